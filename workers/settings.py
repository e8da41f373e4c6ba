"""``arq workers.settings.WorkerSettings``: the worker process.

JSON payloads (never pickle), a health-check key, and cron jobs: the sweeper every 5 seconds, the
purge of pupils whose pending deletion ended daily, webhook delivery every 2 seconds, scheduled syncs
every minute. With ``MISYNC_WORKER_METRICS_PORT`` set, the worker serves its Prometheus metrics there.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import httpx
from arq import cron
from prometheus_client import start_http_server

from app import logs, queue
from app.config import get_settings
from app.db import create_engine, create_session_factory
from app.security import Cipher
from app.sync import handlers  # noqa: F401  (registers the job handlers)
from app.sync.runner import Services
from workers.jobs import (
    deliver_webhooks,
    purge_pending_deletions,
    run_retention,
    run_sync_job,
    schedule_syncs,
    sweep,
)

_settings = get_settings()


async def startup(ctx: dict[str, Any]) -> None:
    logs.configure(os.environ.get("MISYNC_LOG_LEVEL", "INFO"))
    settings = get_settings()
    if not settings.embedded:
        settings.check_secrets()
    if settings.worker_metrics_port is not None:
        start_http_server(settings.worker_metrics_port)
    # A running job holds a lock connection and uses a session: room for every job slot.
    engine = create_engine(settings.database_url, pool_size=max(5, settings.worker_max_jobs))
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
    cron_jobs: ClassVar[list[Any]] = [
        cron(sweep, second=set(range(0, 60, 5)), run_at_startup=True, unique=True),
        # Daily at 02:30 UTC: pupils whose pending deletion ended are purged.
        cron(purge_pending_deletions, hour={2}, minute={30}, second={0}, unique=True),
        # Daily at 02:45 UTC: results of inactive learners are anonymised (app.retention).
        cron(run_retention, hour={2}, minute={45}, second={0}, unique=True),
        # Every 2 seconds: outbox events become webhook deliveries; due deliveries are attempted.
        cron(deliver_webhooks, second=set(range(0, 60, 2)), unique=True, timeout=300),
        # Every minute: scheduled pupils syncs that are due (app.schedule).
        cron(schedule_syncs, second={30}, unique=True, timeout=120),
    ]
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
    max_jobs = _settings.worker_max_jobs
    # ``<queue_name>:health-check`` is rewritten this often; /readyz and ``misync worker-health`` read it.
    health_check_interval = queue.HEALTH_CHECK_INTERVAL_S
    allow_abort_jobs = False
