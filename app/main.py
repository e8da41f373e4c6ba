"""The FastAPI application. ``create_app()`` builds it; the lifespan owns every connection."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app import health, logs, queue
from app.auditlog.endpoints import router as audit_router
from app.auth import KeyCache
from app.classes.endpoints import router as classes_router
from app.config import Settings, get_settings
from app.db import create_engine, create_session_factory
from app.errors import Problem, install_error_handlers
from app.leavers.endpoints import router as leavers_router
from app.mapping.endpoints import router as mapping_router
from app.middleware import BodyLimit, RequestContext
from app.pupils.endpoints import router as pupils_router
from app.results.endpoints import router as results_router
from app.retention.endpoints import admin_router as retention_admin_router
from app.retention.endpoints import router as retention_router
from app.schedule.endpoints import router as schedule_router
from app.schools.endpoints import admin_router
from app.schools.endpoints import router as school_router
from app.security import Cipher
from app.sync.endpoints import router as sync_router
from app.webhooks.endpoints import router as webhooks_router

API_VERSION = "1.0.0"
ROUTERS = (
    health.router,
    admin_router,
    school_router,
    schedule_router,
    sync_router,
    classes_router,
    pupils_router,
    leavers_router,
    mapping_router,
    audit_router,
    webhooks_router,
    results_router,
    retention_router,
    retention_admin_router,
)


def _operation_id(route: APIRoute) -> str:
    # Operation ids are the endpoint function names: stable, readable method names in generated SDKs.
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. Without ``settings``, they are read from the environment."""
    settings = settings or get_settings()
    if not settings.embedded:
        settings.check_secrets()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.session_factory = create_session_factory(engine)
        app.state.redis = queue.connect(settings.redis_url)
        app.state.http = httpx.AsyncClient(follow_redirects=False)
        try:
            yield
        finally:
            await app.state.http.aclose()
            await app.state.redis.aclose(close_connection_pool=True)
            await engine.dispose()

    app = FastAPI(
        title="misync",
        version=API_VERSION,
        summary="Keeps a school assessment platform's roster in step with the school's MIS.",
        description="Class mapping, sync jobs with review, pupils and access, classes, test results, "
        "retention and webhooks. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.cipher = Cipher(settings.secret_key_bytes())
    app.state.key_cache = KeyCache()
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    _add_problem_schema(app)
    return app


def _add_problem_schema(app: FastAPI) -> None:
    """Declare the Problem schema that every error response refers to."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(Problem.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}))
        components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components["Problem"].pop("$defs", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn app.main:app`` (configures JSON logs first)."""
    logs.configure(os.environ.get("MISYNC_LOG_LEVEL", "INFO"))
    return create_app()


def __getattr__(name: str) -> FastAPI:
    # ``uvicorn app.main:app`` works without building an app (and checking secrets) at import time.
    if name == "app":
        return app_factory()
    raise AttributeError(name)
