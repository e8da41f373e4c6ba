"""``arq workers.settings.WorkerSettings``: the worker process.

JSON payloads (never pickle), a health-check key, and cron jobs: the sweeper every 5 seconds.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import httpx
from arq import cron

from app import logs, queue
from app.config import get_settings
from app.db import create_engine, create_session_factory
from app.security import Cipher
from app.sync import handlers  # noqa: F401  (registers the job handlers)
from app.sync.runner import Services
from workers.jobs import run_sync_job, sweep

_settings = get_settings()


async def startup(ctx: dict[str, Any]) -> None:
    logs.configure(os.environ.get("MISYNC_LOG_LEVEL", "INFO"))
    settings = get_settings()
    if not settings.embedded:
        settings.check_secrets()
    engine = create_engine(settings.database_url, pool_size=5)
    ctx["services"] = Services(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        redis=ctx["redis"],
        http=httpx.AsyncClient(follow_redirects=False),
        cipher=Cipher(settings.secret_key_bytes()),
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    services = ctx.get("services")
    if services is not None:
        await services.http.aclose()
        await services.engine.dispose()


class WorkerSettings:
    """arq settings. Scale by running more worker processes; jobs of one school never overlap."""

    functions: ClassVar[list[Any]] = [run_sync_job]
    cron_jobs: ClassVar[list[Any]] = [cron(sweep, second=set(range(0, 60, 5)), run_at_startup=True, unique=True)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = queue.redis_settings(_settings.redis_url)
    queue_name = _settings.queue_name
    job_serializer = staticmethod(queue.serialize)
    job_deserializer = staticmethod(queue.deserialize)
    # Results are not kept: the job row holds them, and a kept result would block re-enqueueing the id.
    keep_result = 0
    job_timeout = 3600
    max_tries = 100_000  # SchoolBusy retries count as tries; real failures are limited in the runner
    max_jobs = 10
    health_check_interval = 10
    allow_abort_jobs = False
