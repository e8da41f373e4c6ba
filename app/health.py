"""Liveness, readiness, worker health and metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from app import metrics, queue
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


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """What the workers' health-check key says: whether one was seen, how long ago, and arq's counters
    (``j_complete=.. j_failed=.. j_retried=.. j_ongoing=.. queued=..``)."""

    seen: bool
    age_s: float | None = None
    info: str | None = None

    def describe(self) -> str:
        if not self.seen:
            return "none seen"
        return f"ok (seen {self.age_s:.0f}s ago)" if self.age_s is not None else "ok"


async def worker_health(redis: Any, queue_name: str) -> WorkerHealth:
    """Read the key arq workers rewrite every ``HEALTH_CHECK_INTERVAL_S`` with a lifetime of one more
    second (``arq --check`` reads the same key): present means a worker was alive within that time.
    The age comes from the key's remaining lifetime. Raises on Redis errors."""
    key = queue.health_check_key(queue_name)
    value = await redis.get(key)
    if value is None:
        return WorkerHealth(seen=False)
    ttl_ms = await redis.pttl(key)
    age = max(0.0, queue.HEALTH_CHECK_INTERVAL_S + 1 - ttl_ms / 1000) if ttl_ms and ttl_ms > 0 else None
    info = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return WorkerHealth(seen=True, age_s=age, info=info)


@router.get("/readyz", response_model=Health, responses=problems(503))
async def readyz(request: Request) -> Health:
    """Ready to serve: PostgreSQL and Redis answer. 503 problem naming what is down otherwise.

    ``checks.workers`` reports the job workers (``ok (seen 3s ago)`` or ``none seen``) for information
    only: the API serves (and queues jobs) without workers, so it does not make the answer 503. Alert
    on it, or run ``misync worker-health`` (exit 1 when no worker is seen)."""
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
    checks["workers"] = await _workers(request)
    return Health(status="ok", checks=checks)


async def _workers(request: Request) -> str:
    try:
        health = await asyncio.wait_for(
            worker_health(request.app.state.redis, request.app.state.settings.queue_name), CHECK_TIMEOUT_S
        )
    except Exception as exc:  # informational only
        metrics.WORKER_LAST_SEEN.set(-1)
        return f"unknown ({type(exc).__name__})"
    metrics.WORKER_LAST_SEEN.set(health.age_s if health.age_s is not None else (0 if health.seen else -1))
    return health.describe()


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
async def get_metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format: this API process's requests, and fleet-wide
    gauges (``misync_worker_last_seen_seconds``). Sync jobs, MIS requests and queue depth are counted
    where they happen, in the workers: scrape each worker's ``MISYNC_WORKER_METRICS_PORT``."""
    await _workers(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
