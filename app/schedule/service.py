"""Scheduled syncs: reading and changing a school's schedule, and the scheduler tick that creates jobs.

The schedule lives in ``School.settings`` (``sync_time``, ``timezone``, ``summer_pause``), so the
operator's ``PATCH /v1/admin/schools/{id}`` and the school's ``PUT /v1/school/schedule`` set the same
thing. A scheduled run is an ordinary pupils job created as if the school had submitted it, with the
``Idempotency-Key`` ``schedule:<local day>``: that key is also the scheduler's memory of which day a
school last ran (no extra column), and makes a second creation for the same day return the first job.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta

from arq.connections import ArqRedis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app import audit, metrics, queue
from app.models import Class, School, SyncJob
from app.models.base import utcnow
from app.schedule import timing
from app.schedule.schemas import LastScheduledJob, ScheduledRun, ScheduleIn, ScheduleOut
from app.schools.schemas import SchoolSettings
from app.sync import service as sync_service
from app.sync.schemas import ACTIVE_STATUSES, SyncJobCreate
from app.tenancy import Tenant

log = logging.getLogger("misync.schedule")

#: Idempotency keys of scheduled jobs start with this, followed by the school's local day.
KEY_PREFIX = "schedule:"
#: Advisory lock taken (for its transaction) by a tick, so two workers' ticks never overlap.
TICK_LOCK_KEY = int.from_bytes(b"misync:s", "big", signed=True)
#: Scheduled jobs older than this are not looked at to find a school's last scheduled day.
_MEMORY = timedelta(days=3)


def schedule_key(day: date) -> str:
    return f"{KEY_PREFIX}{day.isoformat()}"


def _day_of(key: str | None) -> date | None:
    if not key or not key.startswith(KEY_PREFIX):
        return None
    try:
        return date.fromisoformat(key.removeprefix(KEY_PREFIX))
    except ValueError:
        return None


async def last_slots(session: AsyncSession, school_ids: list[uuid.UUID], now: datetime) -> dict[uuid.UUID, date]:
    """The local day of each school's last scheduled run (within the last few days)."""
    if not school_ids:
        return {}
    rows = await session.execute(
        select(col(SyncJob.school_id), func.max(col(SyncJob.idempotency_key)))
        .where(
            col(SyncJob.school_id).in_(school_ids),
            col(SyncJob.idempotency_key).startswith(KEY_PREFIX),
            col(SyncJob.created_at) > now - _MEMORY,
        )
        .group_by(col(SyncJob.school_id))
    )
    out = {}
    for school_id, key in rows:
        day = _day_of(key)
        if day is not None:
            out[school_id] = day
    return out


async def _busy(session: AsyncSession, school_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.execute(
        select(col(SyncJob.school_id))
        .where(col(SyncJob.school_id).in_(school_ids), col(SyncJob.status).in_(ACTIVE_STATUSES))
        .distinct()
    )
    return set(rows.scalars())


async def _mapped(session: AsyncSession, school_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.execute(
        select(col(Class.school_id))
        .where(col(Class.school_id).in_(school_ids), col(Class.set_up), col(Class.mis_group_id).is_not(None))
        .distinct()
    )
    return set(rows.scalars())


async def tick(
    session: AsyncSession, now: datetime, *, max_jitter_s: int = timing.DEFAULT_MAX_JITTER_S
) -> list[SyncJob]:
    """Create the pupils jobs due at ``now`` in ``session``'s transaction; the caller commits, then enqueues.

    A school is skipped (and tried again at the next tick, while its run's window is open) when it
    already has a job queued or running, and skipped for good while it has no set-up class mapping.
    Another tick running at the same moment (another worker) makes this one do nothing.
    """
    locked = (await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": TICK_LOCK_KEY})).scalar()
    if not locked:
        return []
    rows = (
        await session.execute(
            select(col(School.id), col(School.settings)).where(
                col(School.mis_provider).is_not(None), text("schools.settings->>'sync_time' IS NOT NULL")
            )
        )
    ).all()
    schedules = {sid: s for sid, raw in rows if (s := timing.Schedule.from_settings(raw)) is not None}
    if not schedules:
        return []
    last = await last_slots(session, list(schedules), now)
    due = timing.due_schools(
        now,
        (timing.ScheduledSchool(sid, s, last.get(sid)) for sid, s in schedules.items()),
        max_jitter_s=max_jitter_s,
    )
    if not due:
        return []
    ids = [d.school_id for d in due]
    busy, mapped = await _busy(session, ids), await _mapped(session, ids)
    created = []
    for d in due:
        if d.school_id in busy or d.school_id not in mapped:
            log.debug(
                "scheduled sync skipped",
                extra={"school": str(d.school_id), "reason": "busy" if d.school_id in busy else "no set-up mapping"},
            )
            continue
        tenant = Tenant(session=session, school_id=d.school_id, actor="system")
        job, new = await sync_service.submit(tenant, SyncJobCreate(kind="pupils", mode=d.mode), schedule_key(d.slot))
        if not new:
            continue
        job.params = {**job.params, "scheduled": {"day": d.slot.isoformat(), "mode": d.mode}}
        created.append(job)
        metrics.SCHEDULED_JOBS.labels(d.mode).inc()
        log.info(
            "scheduled sync created",
            extra={"school": str(d.school_id), "job": str(job.id), "mode": d.mode, "day": d.slot.isoformat()},
        )
    await session.flush()
    return created


async def run_tick(
    session_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    queue_name: str,
    now: datetime,
    *,
    max_jitter_s: int = timing.DEFAULT_MAX_JITTER_S,
) -> list[uuid.UUID]:
    """One scheduler tick at ``now``: create the due jobs, commit, then enqueue them. Returns their ids."""
    async with session_factory() as session:
        jobs = await tick(session, now, max_jitter_s=max_jitter_s)
        await session.commit()
    for job in jobs:
        await queue.enqueue(redis, job.id, queue_name)
    return [job.id for job in jobs]


async def schedule_out(tenant: Tenant, school: School, now: datetime, max_jitter_s: int) -> ScheduleOut:
    settings = SchoolSettings.model_validate(school.settings)
    schedule = timing.Schedule.from_settings(school.settings)
    last_job = (
        await tenant.session.execute(
            tenant.select(SyncJob)
            .where(col(SyncJob.idempotency_key).startswith(KEY_PREFIX))
            .order_by(col(SyncJob.created_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    next_run = None
    if schedule is not None:
        last = await last_slots(tenant.session, [school.id], now)
        upcoming = timing.next_run(
            now, timing.ScheduledSchool(school.id, schedule, last.get(school.id)), max_jitter_s=max_jitter_s
        )
        if upcoming is not None:
            next_run = ScheduledRun(day=upcoming.slot, mode=upcoming.mode, at=upcoming.at)
    return ScheduleOut(
        sync_time=settings.sync_time,
        timezone=settings.timezone,
        summer_pause=settings.summer_pause,
        next_run=next_run,
        last_job=LastScheduledJob(
            id=last_job.id, mode=last_job.mode, status=last_job.status, created_at=last_job.created_at
        )
        if last_job
        else None,
    )


async def _school(tenant: Tenant) -> School:
    school = await tenant.session.get(School, tenant.school_id)
    assert school is not None  # a tenant's school exists (keys are deleted with it)
    return school


async def get(tenant: Tenant, max_jitter_s: int) -> ScheduleOut:
    return await schedule_out(tenant, await _school(tenant), utcnow(), max_jitter_s)


async def put(tenant: Tenant, body: ScheduleIn, max_jitter_s: int) -> ScheduleOut:
    """Replace the school's schedule (the other settings stay) and audit the change."""
    school = await _school(tenant)
    fields = body.model_dump(mode="json")
    settings = SchoolSettings.model_validate({**school.settings, **fields})
    school.settings = settings.model_dump(mode="json")
    school.updated_at = utcnow()
    await tenant.session.flush()
    await audit.record(
        tenant.session,
        school_id=school.id,
        actor=tenant.actor,
        action="school.schedule_updated",
        entity_type="school",
        entity_id=school.id,
        data=fields,
    )
    return await schedule_out(tenant, school, utcnow(), max_jitter_s)
