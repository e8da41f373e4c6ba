"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from app.errors import ServiceUnavailable, problems

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (no dependency is checked)."""
    return Health(status="ok")


async def _check_database(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(request: Request) -> None:
    await request.app.state.redis.ping()


@router.get("/readyz", response_model=Health, responses=problems(503))
async def readyz(request: Request) -> Health:
    """Ready to serve: PostgreSQL and Redis answer. 503 problem naming what is down otherwise."""
    checks: dict[str, str] = {}
    for name, check in (("postgres", _check_database), ("redis", _check_redis)):
        try:
            await asyncio.wait_for(check(request), CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; the type is enough to say why
            checks[name] = f"down ({type(exc).__name__})"
    down = [n for n, s in checks.items() if s != "ok"]
    if down:
        raise ServiceUnavailable(f"Not ready: {', '.join(down)} unavailable", extra={"checks": checks})
    return Health(status="ok", checks=checks)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
)
async def get_metrics() -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
