"""Running a sync job in a worker: the school lock, heartbeats, status changes, failure handling.

The job row is the source of truth and every job is idempotent: a job that already ended, or is
waiting for review, is skipped when delivered again. A job's results and its final status are written
in one transaction by its handler, so a worker killed at any moment leaves the job either not done
(the sweeper re-enqueues it) or done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from arq.connections import ArqRedis
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from app import audit, logs, metrics
from app.config import Settings
from app.errors import AppError, problem_body
from app.mis.base import MisFetchError
from app.models import SyncJob
from app.models.base import utcnow
from app.security import Cipher
from app.sync.schemas import ACTIVE_STATUSES
from app.sync.service import announce

log = logging.getLogger("misync.jobs")

#: Unexpected errors are retried this many times before the job fails.
MAX_ATTEMPTS = 3
#: Progress within one phase is written at most this often (seconds).
PROGRESS_EVERY_S = 1.0
#: How long a job waits before trying again for its school's lock.
LOCK_RETRY_S = 1.0


class SchoolBusy(Exception):
    """Another job of the same school holds the lock; try again later."""


@dataclass
class Services:
    """What a worker process holds for its jobs (built once at start-up)."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    http: httpx.AsyncClient
    cipher: Cipher


def status_channel(job_id: uuid.UUID | str) -> str:
    """The Redis pub/sub channel carrying a job's status and progress."""
    return f"misync:sync_job:{job_id}"


@dataclass
class JobRun:
    """One execution of one job, handed to the kind's handler."""

    services: Services
    job_id: uuid.UUID
    school_id: uuid.UUID
    kind: str
    attempt: int = 1
    _last_phase: str = field(default="", repr=False)
    _last_progress: float = field(default=0.0, repr=False)

    async def progress(self, phase: str, done: int = 0, total: int | None = None) -> bool:
        """Record and publish progress (its own short transaction). Within a phase, at most one write per
        PROGRESS_EVERY_S, so the statements a job makes do not grow with the pupils it reads. Returns
        whether it wrote (a good moment to check for cancellation)."""
        now = time.monotonic()
        if phase == self._last_phase and now - self._last_progress < PROGRESS_EVERY_S:
            return False
        self._last_phase, self._last_progress = phase, now
        value = {"phase": phase, "done": done, "total": total}
        async with self.services.session_factory() as session:
            await session.execute(
                update(SyncJob).where(col(SyncJob.id) == self.job_id).values(progress=value, heartbeat_at=utcnow())
            )
            await session.commit()
        await self.publish({"id": str(self.job_id), "progress": value})
        return True

    async def publish(self, message: dict[str, Any]) -> None:
        try:
            await self.services.redis.publish(status_channel(self.job_id), json.dumps(message, default=str))
        except Exception:  # status streaming is best effort; the row is the truth
            log.warning("could not publish job status", exc_info=False)

    async def cancelled(self) -> bool:
        """Whether the job was cancelled since it started (checked between steps)."""
        async with self.services.session_factory() as session:
            status = (
                await session.execute(select(col(SyncJob.status)).where(col(SyncJob.id) == self.job_id))
            ).scalar_one()
        return bool(status == "cancelled")

    async def lock_job(self, session: AsyncSession) -> SyncJob:
        """The job row, locked for update in ``session``'s transaction."""
        return (
            await session.execute(select(SyncJob).where(col(SyncJob.id) == self.job_id).with_for_update())
        ).scalar_one()

    async def finish(self, session: AsyncSession, job: SyncJob, status: str, **fields: Any) -> None:
        """Set the job's status (and fields) in the caller's transaction; the caller commits."""
        job.status = status
        for name, value in fields.items():
            setattr(job, name, value)
        if status in ("succeeded", "failed", "cancelled"):
            job.finished_at = utcnow()
        progress = dict(job.progress or {})
        if status != "failed" and progress.get("total") is not None:
            progress["done"] = progress["total"]  # a phase that ended did all its work
        job.progress = {**progress, "phase": status}
        await announce(session, job)
        await audit.record(
            session,
            school_id=self.school_id,
            actor="system",
            action=f"sync_job.{status}",
            entity_type="sync_job",
            entity_id=job.id,
            job_id=job.id,
            data={"counts": job.counts} if job.counts else {},
        )


Handler = Callable[[JobRun], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    """Register the handler of a job kind."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def lock_key(school_id: uuid.UUID) -> int:
    """A signed 64-bit advisory lock key for a school."""
    return int.from_bytes(school_id.bytes[:8], "big", signed=True)


async def _heartbeat(services: Services, job_id: uuid.UUID) -> None:
    while True:
        await asyncio.sleep(services.settings.job_stale_after_s / 6)
        try:
            async with services.session_factory() as session:
                # SKIP LOCKED: while the job's own transaction holds its row (apply), the beat is skipped
                # rather than queued; the sweeper then sees the school's advisory lock still held.
                await session.execute(
                    text(
                        "UPDATE sync_jobs SET heartbeat_at = now() WHERE id IN"
                        " (SELECT id FROM sync_jobs WHERE id = :id FOR UPDATE SKIP LOCKED)"
                    ),
                    {"id": job_id},
                )
                await session.commit()
        except Exception:  # a missed beat is harmless; many missed beats let the sweeper take over
            log.warning("heartbeat failed", extra={"job": str(job_id)})


async def _start(services: Services, job_id: uuid.UUID) -> JobRun | None:
    """Mark the job running; None when there is nothing to do (ended, cancelled, awaiting review)."""
    async with services.session_factory() as session:
        job = (
            await session.execute(select(SyncJob).where(col(SyncJob.id) == job_id).with_for_update())
        ).scalar_one_or_none()
        if job is None or job.status not in ACTIVE_STATUSES:
            return None
        if job.status == "queued":
            job.status = "running"
            job.progress = {"phase": "running", "done": 0, "total": None}
        job.started_at = job.started_at or utcnow()
        job.heartbeat_at = utcnow()
        job.attempts += 1
        run = JobRun(services, job.id, job.school_id, job.kind, job.attempts)
        await session.commit()
    await run.publish({"id": str(job_id), "status": job.status})
    return run


async def _fail(run: JobRun, problem: dict[str, Any]) -> None:
    async with run.services.session_factory() as session:
        job = await run.lock_job(session)
        if job.status in ACTIVE_STATUSES:
            await run.finish(session, job, "failed", error=problem)
            await session.commit()
    metrics.JOBS.labels(run.kind, "failed").inc()
    await run.publish({"id": str(run.job_id), "status": "failed"})


def mis_problem(exc: MisFetchError) -> dict[str, Any]:
    """The job's problem object for a failed MIS fetch."""
    titles = {
        "credentials_rejected": "MIS credentials rejected",
        "unavailable": "MIS unavailable",
        "rate_limited": "MIS rate limit",
        "bad_response": "MIS answer rejected",
        "not_found": "MIS school not found",
        "bad_request": "MIS refused the request",
        "misconfigured": "MIS connection misconfigured",
    }
    status = 422 if exc.code in ("bad_response", "misconfigured") else 502
    return problem_body(
        status,
        f"mis-{exc.code.replace('_', '-')}",
        titles.get(exc.code, "MIS error"),
        exc.detail,
        extra={"code": exc.code, "mis_status": exc.status},
    )


async def run_job(services: Services, job_id: uuid.UUID) -> str:
    """Run one job to its next resting status. Raises SchoolBusy when its school is locked."""
    token = logs.job_id.set(str(job_id))
    try:
        async with services.session_factory() as session:
            school_id = (
                await session.execute(select(col(SyncJob.school_id)).where(col(SyncJob.id) == job_id))
            ).scalar_one_or_none()
        if school_id is None:
            return "missing"
        # The lock lives on its own connection for the whole run; if this process dies, PostgreSQL
        # drops the connection and the lock with it.
        async with services.engine.connect() as lock_conn:
            got = (
                await lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(school_id)})
            ).scalar_one()
            await lock_conn.commit()
            if not got:
                raise SchoolBusy(str(school_id))
            try:
                return await _run_locked(services, job_id)
            finally:
                await lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(school_id)})
                await lock_conn.commit()
    finally:
        logs.job_id.reset(token)


async def _run_locked(services: Services, job_id: uuid.UUID) -> str:
    run = await _start(services, job_id)
    if run is None:
        return "skipped"
    started = time.perf_counter()
    beat = asyncio.create_task(_heartbeat(services, job_id))
    try:
        handler = HANDLERS.get(run.kind)
        if handler is None:
            await _fail(run, problem_body(500, "unknown-job-kind", "Unknown job kind", f"No handler for {run.kind}"))
            return "failed"
        await handler(run)
        return "done"
    except MisFetchError as exc:
        log.warning("MIS fetch failed", extra={"code": exc.code, "mis_status": exc.status})
        await _fail(run, mis_problem(exc))
        return "failed"
    except AppError as exc:
        await _fail(run, exc.problem())
        return "failed"
    except Exception:
        log.exception("job raised", extra={"attempt": run.attempt})
        if run.attempt < MAX_ATTEMPTS:
            raise  # the worker tries again shortly (e.g. the database was briefly unreachable)
        await _fail(
            run,
            problem_body(
                500,
                "internal-error",
                "Internal error",
                f"The job failed {run.attempt} times; the error is in the worker's log",
            ),
        )
        return "failed"
    finally:
        beat.cancel()
        metrics.JOB_DURATION.labels(run.kind).observe(time.perf_counter() - started)
