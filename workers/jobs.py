"""Thin arq job functions: they unpack ids and call the services in ``app``."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from arq import Retry
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import metrics, queue
from app.models import SyncJob
from app.models.base import utcnow
from app.pupils.deletion import purge_due
from app.retention import service as retention
from app.schedule import service as schedule
from app.sync.runner import LOCK_RETRY_S, SchoolBusy, Services, lock_key, run_job
from app.webhooks import delivery as webhook_delivery

log = logging.getLogger("misync.worker")

#: How long an unexpected error waits before the job is tried again (seconds).
UNEXPECTED_RETRY_S = 5.0
#: A queued job older than this that no worker has started is enqueued again (enqueue is idempotent).
REQUEUE_QUEUED_AFTER_S = 10.0


async def run_sync_job(ctx: dict[str, Any], job_id: str) -> str:
    """Run a sync job; when its school is busy, come back shortly (one job per school at a time). An
    unexpected error (the runner gives up after a few attempts) is tried again a little later."""
    services: Services = ctx["services"]
    try:
        return await run_job(services, uuid.UUID(job_id))
    except SchoolBusy:
        raise Retry(defer=LOCK_RETRY_S) from None
    except Exception:
        log.warning("sync job raised; trying again shortly", extra={"job": job_id})
        raise Retry(defer=UNEXPECTED_RETRY_S) from None


async def _lock_free(session: AsyncSession, school_id: uuid.UUID) -> bool:
    got = bool((await session.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(school_id)})).scalar())
    if got:
        await session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(school_id)})
    return got


async def sweep(ctx: dict[str, Any]) -> int:
    """Re-enqueue jobs whose worker died (stale heartbeat) or whose enqueue was lost. Returns how many."""
    services: Services = ctx["services"]
    now = utcnow()
    async with services.session_factory() as session:
        rows = (
            await session.execute(
                select(col(SyncJob.id), col(SyncJob.status), col(SyncJob.school_id)).where(
                    or_(
                        (col(SyncJob.status) == "queued")
                        & (col(SyncJob.created_at) < now - timedelta(seconds=REQUEUE_QUEUED_AFTER_S)),
                        col(SyncJob.status).in_(("running", "applying"))
                        & (col(SyncJob.heartbeat_at) < now - timedelta(seconds=services.settings.job_stale_after_s)),
                    )
                )
            )
        ).all()
        # A worker that is alive holds its school's advisory lock (PostgreSQL drops it with a dead
        # worker's connection), so a stale heartbeat alone does not mean the worker died.
        alive = set()
        for _, status, school_id in rows:
            if status != "queued" and not await _lock_free(session, school_id):
                alive.add(school_id)
    redis = services.redis
    rows = [r for r in rows if r[2] not in alive]
    for job_id, status, _ in rows:
        if status != "queued":
            # The dead worker's in-progress marker would keep arq from starting the job again.
            await redis.delete(f"arq:in-progress:{queue.arq_job_id(job_id)}")
            log.warning("re-enqueuing a job whose worker stopped", extra={"job": str(job_id)})
        await queue.enqueue(redis, job_id, services.settings.queue_name)
    metrics.QUEUE_DEPTH.set(await redis.zcard(services.settings.queue_name))
    return len(rows)


async def purge_pending_deletions(ctx: dict[str, Any]) -> int:
    """Daily: purge the pupils whose pending deletion has run out (``app.pupils.deletion.purge_due``).

    Idempotent: a second run the same day finds nothing due. Returns how many pupils were purged.
    """
    services: Services = ctx["services"]
    async with services.session_factory() as session:
        purged = await purge_due(session, utcnow())
        await session.commit()
    log.info("purged pupils whose pending deletion ended", extra={"purged": purged})
    return purged


async def deliver_webhooks(ctx: dict[str, Any]) -> int:
    """Every 2 seconds: turn new outbox events into webhook deliveries and attempt the due ones.

    One run at a time per worker process (a run still going makes the next tick return at once), so
    slow receivers never take more than one of the worker's job slots. Returns the attempts made."""
    lock: asyncio.Lock = ctx.setdefault("webhooks_lock", asyncio.Lock())
    if lock.locked():
        return 0
    async with lock:
        services: Services = ctx["services"]
        sender = webhook_delivery.Sender(
            session_factory=services.session_factory,
            http=services.http,
            cipher=services.cipher,
            allow_private_urls=services.settings.webhook_allow_private_urls,
        )
        _, attempted = await webhook_delivery.run(sender)
    return attempted


async def run_retention(ctx: dict[str, Any]) -> dict[str, Any]:
    """Daily: the retention run for today (UTC): purge pupils whose deletion is due, then anonymise the
    results the policy names (``app.retention.service.run``). Idempotent; returns the counts."""
    services: Services = ctx["services"]
    async with services.session_factory() as session:
        out = await retention.run(session, utcnow().date(), actor="system")
        await session.commit()
    return out.model_dump(mode="json")


async def schedule_syncs(ctx: dict[str, Any]) -> int:
    """Every minute: create and enqueue the scheduled pupils syncs that are due (``app.schedule``).

    Idempotent: a school's run is made once per local day. Returns how many jobs were created."""
    services: Services = ctx["services"]
    created = await schedule.run_tick(
        services.session_factory,
        services.redis,
        services.settings.queue_name,
        utcnow(),
        max_jitter_s=services.settings.schedule_max_jitter_s,
    )
    return len(created)
