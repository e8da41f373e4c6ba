"""``GET /v1/audit-events``: what changed, when and by whom (newest first)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import tuple_
from sqlmodel import col

from app.auth import Reader
from app.errors import COMMON_PROBLEMS
from app.models import AuditEvent
from app.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1/audit-events", tags=["audit"], responses=COMMON_PROBLEMS)


class AuditEventOut(BaseModel):
    """One audited change. ``actor`` is ``key:<api key id>``, ``operator`` or ``system``."""

    id: uuid.UUID
    actor: str
    action: str
    entity_type: str
    entity_id: str | None
    job_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime


@router.get("", response_model=Page[AuditEventOut])
async def list_audit_events(
    tenant: Reader,
    pupil_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    action: str | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AuditEventOut]:
    """The school's audit events, newest first; filter by pupil, job or action."""
    stmt = tenant.select(AuditEvent)
    if pupil_id is not None:
        stmt = stmt.where(col(AuditEvent.entity_type) == "pupil", col(AuditEvent.entity_id) == str(pupil_id))
    if job_id is not None:
        stmt = stmt.where(col(AuditEvent.job_id) == job_id)
    if action is not None:
        stmt = stmt.where(col(AuditEvent.action) == action)
    if cursor:
        created, eid = decode_cursor(cursor, "audit")
        stmt = stmt.where(
            tuple_(col(AuditEvent.created_at), col(AuditEvent.id))
            < tuple_(datetime.fromisoformat(created), uuid.UUID(eid))
        )
    stmt = stmt.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc()).limit(limit + 1)
    rows = list((await tenant.session.execute(stmt)).scalars())
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor("audit", [last.created_at.isoformat(), str(last.id)])
    return Page[AuditEventOut](
        items=[AuditEventOut.model_validate(r, from_attributes=True) for r in rows[:limit]], next_cursor=next_cursor
    )
