"""Announcing events (``sync_job.succeeded``, ``pupils.anonymised``...) through the outbox.

``emit`` adds the event to the caller's transaction: it is delivered (by the webhooks worker) only if
that transaction commits, and it is never lost once it has.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models.base import utcnow
from app.models.event import OutboxEvent

#: Event types misync announces.
EVENT_TYPES = (
    "sync_job.awaiting_review",
    "sync_job.held",
    "sync_job.succeeded",
    "sync_job.failed",
    "sync_job.cancelled",
    "pupils.anonymised",
)


async def emit(session: AsyncSession, school_id: uuid.UUID, event_type: str, data: dict[str, Any]) -> OutboxEvent:
    """Add an event to the session's transaction. ``data`` must be JSON-ready and free of pupil names."""
    now = utcnow()
    event = OutboxEvent(
        school_id=school_id,
        type=event_type,
        created_at=now,
        payload={"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data},
    )
    session.add(event)
    await session.flush()
    return event
