"""Deleting learners (DOMAIN.md, Deleting a learner): pending deletion, restore, purge.

Deleting is deliberate and slow by design: ``DELETE /v1/pupils/{id}`` only sets
``pending_deletion_until`` (now + the school's ``pending_deletion_days``, default 180). While pending, the
pupil is hidden from every list and class count, never matched by a sync (``app.sync.roster``), and
restorable. When the time comes, ``purge_due`` (the daily cron job and the operator's retention run)
removes the pupil; the coordinator can also purge at once.

A purge deletes the ``pupils`` row; class memberships go with it through ``ON DELETE CASCADE``, and so
must any table holding the pupil's data (test results reference ``pupils.id`` with a cascading foreign
key). Its earlier audit events are redacted and the sync plan items that named it are deleted. What
remains is the audit trail with ids only: no name, date of birth or UPN.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import audit
from app.models import AuditEvent, MatchDecision, Pupil, School, SyncPlanItem
from app.models.base import utcnow
from app.pupils.repository import id_is_any
from app.sync.service import cancel_open_plans
from app.tenancy import Tenant

DEFAULT_PENDING_DELETION_DAYS = 180
#: The actor of purges nobody asked for at that moment (the daily job, the retention run).
SYSTEM = "system"


async def pending_deletion_days(session: AsyncSession, school_id: uuid.UUID) -> int:
    """The school's ``settings.pending_deletion_days`` (default 180)."""
    settings = (await session.execute(select(col(School.settings)).where(col(School.id) == school_id))).scalar_one()
    return int((settings or {}).get("pending_deletion_days", DEFAULT_PENDING_DELETION_DAYS))


async def request_deletion(tenant: Tenant, pupil: Pupil) -> Pupil:
    """Move a pupil to pending deletion. A pupil already pending keeps its original date (idempotent).

    ``updated_at`` moves too, so a sync plan made before that refers to the pupil is refused as stale.
    """
    if pupil.pending_deletion_until is not None:
        return pupil
    now = utcnow()
    pupil.pending_deletion_until = now + timedelta(days=await pending_deletion_days(tenant.session, tenant.school_id))
    pupil.updated_at = now
    await tenant.session.flush()
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="pupil.deletion_requested",
        entity_type="pupil",
        entity_id=pupil.id,
        data={"pending_deletion_until": pupil.pending_deletion_until.isoformat()},
    )
    return pupil


async def restore(tenant: Tenant, pupil: Pupil) -> Pupil:
    """Cancel a pending deletion: the pupil is listed, counted and synced again, with its classes and data.
    A pupil not pending deletion is returned unchanged."""
    if pupil.pending_deletion_until is None:
        return pupil
    was = pupil.pending_deletion_until
    pupil.pending_deletion_until = None
    pupil.updated_at = utcnow()
    await tenant.session.flush()
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="pupil.restored",
        entity_type="pupil",
        entity_id=pupil.id,
        data={"pending_deletion_until": was.isoformat()},
    )
    return pupil


async def purge_now(tenant: Tenant, pupil: Pupil) -> None:
    """Purge one pupil at once (pending or not), audited with the coordinator as actor."""
    await _purge(tenant.session, [(pupil.id, tenant.school_id)], actor=tenant.actor, reason="immediate")


def _as_datetime(as_of: datetime | date) -> datetime:
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        return as_of
    # A date means "as at the end of that day" (UTC): everything due on or before it goes.
    return datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)


async def purge_due(session: AsyncSession, as_of: datetime | date) -> int:
    """Purge every pupil of every school whose ``pending_deletion_until`` is at or before ``as_of``.

    The entry point for the daily cron job (``workers.jobs.purge_pending_deletions``) and the operator's
    retention run; ``as_of`` is the controllable clock (a ``date`` counts as the end of that day, UTC).
    Set-based, in the caller's transaction (the caller commits). Returns how many pupils were purged.
    Running it twice for the same ``as_of`` purges nothing the second time.
    """
    cutoff = _as_datetime(as_of)
    due = (
        await session.execute(
            select(col(Pupil.id), col(Pupil.school_id))
            .where(col(Pupil.pending_deletion_until) <= cutoff)
            .with_for_update(skip_locked=True)
        )
    ).all()
    return await _purge(session, [(pid, sid) for pid, sid in due], actor=SYSTEM, reason="pending_deletion_ended")


async def _purge(
    session: AsyncSession, pupils: Sequence[tuple[uuid.UUID, uuid.UUID]], *, actor: str, reason: str
) -> int:
    """Delete these (pupil id, school id) pairs and what hangs on them; one id-only audit event each."""
    if not pupils:
        return 0
    ids = [pid for pid, _ in pupils]
    # Remembered match decisions name the pupil's id next to an MIS id; they go with the pupil.
    await session.execute(
        delete(MatchDecision)
        .where(id_is_any(col(MatchDecision.pupil_id), ids))
        .execution_options(synchronize_session=False)
    )
    # Personal data the pupil left elsewhere: the before/after values in its earlier audit events, and the
    # MIS records in sync plans that named it. The events stay (what happened, when, by whom), redacted.
    await session.execute(
        update(AuditEvent)
        .where(col(AuditEvent.entity_type) == "pupil", col(AuditEvent.entity_id).in_([str(i) for i in ids]))
        .values(data={"redacted": "pupil purged"})
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(SyncPlanItem)
        .where(id_is_any(col(SyncPlanItem.pupil_id), ids))
        .execution_options(synchronize_session=False)
    )
    gone = (
        await session.execute(
            delete(Pupil)
            .where(id_is_any(col(Pupil.id), ids))
            .returning(col(Pupil.id), col(Pupil.school_id))
            .execution_options(synchronize_session=False)
        )
    ).all()
    # A plan that named a purged pupil can no longer be applied as reviewed.
    await cancel_open_plans(
        session, sorted({sid for _, sid in gone}), "A pupil in this plan was purged; run a new preview"
    )
    by_school: dict[uuid.UUID, list[tuple[object, dict[str, Any]]]] = defaultdict(list)
    for pid, sid in gone:
        by_school[sid].append((pid, {"reason": reason}))
    for school_id, entries in by_school.items():
        await audit.record_many(
            session, school_id=school_id, actor=actor, action="pupil.purged", entity_type="pupil", entries=entries
        )
    return len(gone)
