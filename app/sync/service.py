"""Sync job decisions on the API side: submit (idempotently), read, cancel."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import audit, events, queue
from app.errors import Conflict, Unprocessable
from app.models import School, SyncJob
from app.models.base import utcnow
from app.pagination import Page, decode_cursor, encode_cursor
from app.reconcile import COUNT_KEYS
from app.sync import repository
from app.sync.schemas import FINAL_STATUSES, Progress, SyncJobCreate, SyncJobOut
from app.tenancy import Tenant

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def to_out(job: SyncJob) -> SyncJobOut:
    return SyncJobOut(
        id=job.id,
        kind=job.kind,
        mode=job.mode,
        status=job.status,
        year_groups=job.params.get("year_groups"),
        progress=Progress.model_validate(job.progress or {"phase": job.status}),
        # Every job shows every tag's count; a registration groups job adds groups, pupils and stale.
        counts={**dict.fromkeys(COUNT_KEYS, 0), **{k: int(v) for k, v in job.counts.items()}},
        guard=job.guard,
        error=job.error,
        warnings=job.warnings,
        applied=job.params.get("applied"),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


#: Job statuses announced as ``sync_job.<status>`` events.
ANNOUNCED_STATUSES = frozenset({"awaiting_review", "held", "succeeded", "failed", "cancelled"})


async def announce(session: AsyncSession, job: SyncJob) -> None:
    """Emit ``sync_job.<status>`` for a job that reached an announced status (in the caller's transaction)."""
    if job.status not in ANNOUNCED_STATUSES:
        return
    data = to_out(job).model_dump(
        mode="json",
        include={"id", "kind", "mode", "status", "counts", "guard", "error", "applied", "created_at", "finished_at"},
    )
    await events.emit(session, job.school_id, f"sync_job.{job.status}", data)


#: Statuses of a plan that may still be applied.
OPEN_PLAN_STATUSES = ("awaiting_review", "held")


async def cancel_open_plans(
    session: AsyncSession, school_ids: list[uuid.UUID], reason: str, *, keep: uuid.UUID | None = None
) -> int:
    """End the schools' plans that were never applied (``cancelled``, ``error`` saying why, a
    ``sync_job.cancelled`` event each), in the caller's transaction. Returns how many."""
    if not school_ids:
        return 0
    stmt = select(SyncJob).where(col(SyncJob.school_id).in_(school_ids), col(SyncJob.status).in_(OPEN_PLAN_STATUSES))
    if keep is not None:
        stmt = stmt.where(col(SyncJob.id) != keep)
    jobs = (await session.execute(stmt.with_for_update())).scalars().all()
    for job in jobs:
        job.status, job.finished_at = "cancelled", utcnow()
        job.progress = {**job.progress, "phase": "cancelled"}
        job.error = {
            "type": "https://misync.dev/problems/superseded",
            "title": "Plan no longer applicable",
            "status": 409,
            "detail": reason,
        }
        await announce(session, job)
    return len(jobs)


def _request_hash(body: SyncJobCreate) -> str:
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


async def submit(tenant: Tenant, body: SyncJobCreate, idempotency_key: str | None) -> tuple[SyncJob, bool]:
    """Create a queued job (not yet enqueued: the caller enqueues after commit).

    Returns the job and whether it is new. The same ``Idempotency-Key`` and body within 24 hours returns
    the earlier job; the same key with another body is a 422.
    """
    digest = _request_hash(body)
    if idempotency_key:
        earlier = await repository.find_by_idempotency_key(tenant, idempotency_key, utcnow() - IDEMPOTENCY_WINDOW)
        if earlier is not None:
            if earlier.request_hash != digest:
                raise Unprocessable("This Idempotency-Key was used with a different request body")
            return earlier, False
    school = await tenant.session.get(School, tenant.school_id)
    if school is None or not school.mis_provider:
        raise Conflict("The school has no MIS connection yet; ask the operator to configure one")
    job = SyncJob(
        school_id=tenant.school_id,
        kind=body.kind,
        mode=body.mode if body.kind == "pupils" else None,
        params={"year_groups": body.year_groups} if body.year_groups else {},
        progress=Progress().model_dump(),
        idempotency_key=idempotency_key,
        request_hash=digest,
        api_key_id=uuid.UUID(tenant.actor.removeprefix("key:")) if tenant.actor.startswith("key:") else None,
    )
    tenant.session.add(job)
    await tenant.session.flush()
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="sync_job.submitted",
        entity_type="sync_job",
        entity_id=job.id,
        job_id=job.id,
        data={"kind": job.kind, "mode": job.mode},
    )
    return job, True


async def enqueue_after_commit(session: AsyncSession, redis: ArqRedis, job: SyncJob, queue_name: str) -> None:
    """Commit, then enqueue: a worker never sees a job id that is not in the database yet."""
    await session.commit()
    await queue.enqueue(redis, job.id, queue_name)


async def get(tenant: Tenant, job_id: uuid.UUID) -> SyncJob:
    return await tenant.get(SyncJob, job_id, "sync job")


async def list_page(
    tenant: Tenant, limit: int, cursor: str | None, kind: str | None, status: str | None
) -> Page[SyncJobOut]:
    before = None
    if cursor:
        created, jid = decode_cursor(cursor, "created")
        before = (datetime.fromisoformat(created), uuid.UUID(jid))
    rows = list(await repository.newest_first(tenant, limit, before, kind, status))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor("created", [last.created_at.isoformat(), str(last.id)])
    return Page[SyncJobOut](items=[to_out(j) for j in rows[:limit]], next_cursor=next_cursor)


async def cancel(tenant: Tenant, job_id: uuid.UUID) -> SyncJob:
    """Cancel a job that has not applied anything. A running fetch notices at its next step."""
    job = await tenant.get(SyncJob, job_id, "sync job")
    await tenant.session.refresh(job, with_for_update=True)
    if job.status in FINAL_STATUSES:
        if job.status == "cancelled":
            return job
        raise Conflict(f"The job already ended ({job.status}); a finished job is not undone")
    if job.status == "applying":
        raise Conflict("The job is applying its plan; it can no longer be cancelled")
    job.status, job.finished_at = "cancelled", utcnow()
    job.progress = {**job.progress, "phase": "cancelled"}
    await announce(tenant.session, job)
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="sync_job.cancelled",
        entity_type="sync_job",
        entity_id=job.id,
        job_id=job.id,
    )
    return job
