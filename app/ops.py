"""Operator commands behind ``misync`` (see :mod:`app.cli`): they talk to the database directly, with the
app's own services, and read the ``MISYNC_*`` settings like the API and the workers.

Each command owns its transaction and writes its answer as JSON (one object, or JSON lines for lists
and exports) to ``out``. Business refusals (a job that cannot be retried, an unknown school) raise
:class:`app.errors.AppError`; the CLI prints its detail and exits 1. Actions are audited with the
actor ``operator``, like the operator's API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TextIO

from pydantic import BaseModel
from sqlalchemy import tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app import health, queue
from app.config import Settings
from app.db import create_engine, create_session_factory
from app.errors import Conflict, NotFound
from app.models import AuditEvent, School, SyncJob
from app.retention import service as retention
from app.schools import service as schools
from app.schools.schemas import ApiKeyCreate, SchoolCreate
from app.security import Cipher
from app.sync import service as sync_service
from app.sync.schemas import FINAL_STATUSES, SyncJobCreate
from app.tenancy import Tenant

OPERATOR = "operator"
#: Statuses of a job that ``retry-job`` accepts: it ended without doing its work.
RETRYABLE = frozenset({"failed", "cancelled"})
EXPORT_BATCH = 1000


def _line(out: TextIO, value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    out.write(json.dumps(value, default=str, ensure_ascii=False) + "\n")


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One session for one command; the command commits."""
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        async with create_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def _enqueue(settings: Settings, job_id: uuid.UUID) -> bool:
    redis = queue.connect(settings.redis_url)
    try:
        return await queue.enqueue(redis, job_id, settings.queue_name)
    finally:
        await redis.aclose(close_connection_pool=True)


async def create_school(
    settings: Settings, body: SchoolCreate, key_role: str | None, key_label: str | None, out: TextIO
) -> None:
    """Create a school (with its MIS connection and settings, if given) and, unless ``key_role`` is None,
    an API key. Writes ``{"school": ..., "api_key": {... "key"}}``: the key is shown only here."""
    cipher = Cipher(settings.secret_key_bytes())
    async with _session(settings) as session:
        school = await schools.create(session, body, cipher)
        key = None
        if key_role is not None:
            key = await schools.create_api_key(
                session, school.id, ApiKeyCreate.model_validate({"role": key_role, "label": key_label})
            )
        result = {
            "school": (await schools.to_out(session, school)).model_dump(mode="json", by_alias=True),
            "api_key": key.model_dump(mode="json") if key else None,
        }
        await session.commit()
    _line(out, result)


def job_json(job: SyncJob) -> dict[str, Any]:
    return {"school_id": str(job.school_id), **sync_service.to_out(job).model_dump(mode="json")}


async def list_jobs(
    settings: Settings,
    out: TextIO,
    *,
    school_id: uuid.UUID | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    as_json: bool = False,
) -> int:
    """Jobs of every school (or one), newest first: a table, or JSON lines. Returns how many."""
    stmt = select(SyncJob)
    if school_id is not None:
        stmt = stmt.where(col(SyncJob.school_id) == school_id)
    if status is not None:
        stmt = stmt.where(col(SyncJob.status) == status)
    if kind is not None:
        stmt = stmt.where(col(SyncJob.kind) == kind)
    stmt = stmt.order_by(col(SyncJob.created_at).desc(), col(SyncJob.id).desc()).limit(limit)
    async with _session(settings) as session:
        jobs = list((await session.execute(stmt)).scalars())
    if as_json:
        for job in jobs:
            _line(out, job_json(job))
        return len(jobs)
    header = ("created_at", "job_id", "school_id", "kind", "mode", "status", "detail")
    rows = [header]
    for job in jobs:
        if job.error:
            detail = str(job.error.get("title") or "")
        elif job.guard and job.guard.get("held"):
            detail = f"guard: {job.guard.get('kind')}"
        else:
            detail = " ".join(f"{k}={v}" for k, v in job.counts.items() if v)
        rows.append(
            (
                job.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                str(job.id),
                str(job.school_id),
                job.kind,
                job.mode or "-",
                job.status,
                detail,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for r in rows:
        out.write("  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] + "\n")
    return len(jobs)


async def _job(session: AsyncSession, job_id: uuid.UUID) -> SyncJob:
    job = await session.get(SyncJob, job_id)
    if job is None:
        raise NotFound(f"No sync job with id {job_id}")
    return job


async def retry_job(settings: Settings, job_id: uuid.UUID, out: TextIO) -> uuid.UUID:
    """A new job with the same kind, mode and year groups as a failed or cancelled one, enqueued.
    Writes the new job; returns its id."""
    async with _session(settings) as session:
        old = await _job(session, job_id)
        if old.status not in RETRYABLE:
            raise Conflict(f"The job is {old.status}; only a failed or cancelled job is retried")
        tenant = Tenant(session=session, school_id=old.school_id, actor=OPERATOR)
        body = SyncJobCreate.model_validate(
            {"kind": old.kind, **({"mode": old.mode} if old.mode else {}), "year_groups": old.params.get("year_groups")}
        )
        job, _ = await sync_service.submit(tenant, body, None)
        job.params = {**job.params, "retry_of": str(old.id)}
        await session.commit()
    await _enqueue(settings, job.id)  # if Redis is down now, the sweeper enqueues it shortly
    _line(out, job_json(job))
    return job.id


async def cancel_job(settings: Settings, job_id: uuid.UUID, out: TextIO) -> None:
    """Cancel a job that has not applied anything (as ``POST /v1/sync-jobs/{id}/cancel`` does)."""
    async with _session(settings) as session:
        job = await _job(session, job_id)
        if job.status in FINAL_STATUSES and job.status != "cancelled":
            raise Conflict(f"The job already ended ({job.status}); a finished job is not undone")
        job = await sync_service.cancel(Tenant(session=session, school_id=job.school_id, actor=OPERATOR), job_id)
        await session.commit()
    _line(out, job_json(job))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


async def export_audit(
    settings: Settings,
    school_id: uuid.UUID,
    out: TextIO,
    *,
    since: date | None = None,
    until: date | None = None,
) -> int:
    """The school's audit events as JSON lines, newest first, from ``since`` to ``until`` (UTC days,
    both included). Each line: id, time, actor, action, entity, job id and ``data`` (ids and the changed
    values). Streams in batches, so a long history never sits in memory. Returns how many."""
    count = 0
    async with _session(settings) as session:
        if await session.get(School, school_id) is None:
            raise NotFound(f"No school with id {school_id}")
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            stmt = select(AuditEvent).where(col(AuditEvent.school_id) == school_id)
            if since is not None:
                stmt = stmt.where(col(AuditEvent.created_at) >= _day_start(since))
            if until is not None:
                stmt = stmt.where(col(AuditEvent.created_at) < _day_start(until + timedelta(days=1)))
            if after is not None:
                stmt = stmt.where(tuple_(col(AuditEvent.created_at), col(AuditEvent.id)) < tuple_(*after))
            stmt = stmt.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc()).limit(EXPORT_BATCH)
            rows = list((await session.execute(stmt)).scalars())
            for e in rows:
                _line(
                    out,
                    {
                        "id": str(e.id),
                        "created_at": e.created_at.isoformat(),
                        "actor": e.actor,
                        "action": e.action,
                        "entity_type": e.entity_type,
                        "entity_id": e.entity_id,
                        "job_id": str(e.job_id) if e.job_id else None,
                        "data": e.data,
                    },
                )
            count += len(rows)
            if len(rows) < EXPORT_BATCH:
                return count
            after = (rows[-1].created_at, rows[-1].id)


async def run_retention(settings: Settings, as_of: date | None, out: TextIO) -> None:
    """The retention run for ``as_of`` (default today, UTC): purge due deletions, anonymise inactive
    learners' results (``app.retention.service.run``). Writes the counts."""
    async with _session(settings) as session:
        result = await retention.run(session, as_of, actor=OPERATOR)
        await session.commit()
    _line(out, result)


async def worker_health(settings: Settings, out: TextIO) -> bool:
    """Whether a worker of ``MISYNC_QUEUE_NAME`` wrote its health check lately (as ``arq --check``)."""
    redis = queue.connect(settings.redis_url)
    try:
        found = await health.worker_health(redis, settings.queue_name)
    finally:
        await redis.aclose(close_connection_pool=True)
    out.write(found.describe() + (f": {found.info}" if found.info else "") + "\n")
    return found.seen
