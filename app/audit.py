"""The audit log: one place that writes it, set-based for bulk changes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.models.base import utcnow


async def record(
    session: AsyncSession,
    *,
    school_id: uuid.UUID | None,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    data: dict[str, Any] | None = None,
    job_id: uuid.UUID | None = None,
) -> None:
    """Add one audit event to the session's transaction."""
    await record_many(
        session,
        school_id=school_id,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entries=[(entity_id, data or {})],
        job_id=job_id,
    )


async def record_many(
    session: AsyncSession,
    *,
    school_id: uuid.UUID | None,
    actor: str,
    action: str,
    entity_type: str,
    entries: Iterable[tuple[object | None, dict[str, Any]]],
    job_id: uuid.UUID | None = None,
) -> int:
    """Add one audit event per (entity id, data) entry in a single statement; returns how many."""
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "school_id": school_id,
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": None if eid is None else str(eid),
            "data": data,
            "job_id": job_id,
            "created_at": now,
        }
        for eid, data in entries
    ]
    if rows:
        await session.execute(insert(AuditEvent), rows)
    return len(rows)
