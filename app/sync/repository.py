"""Sync job queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import tuple_
from sqlmodel import col

from app.models import SyncJob
from app.tenancy import Tenant


async def find_by_idempotency_key(tenant: Tenant, key: str, since: datetime) -> SyncJob | None:
    stmt = tenant.select(SyncJob).where(col(SyncJob.idempotency_key) == key, col(SyncJob.created_at) >= since)
    return (await tenant.session.execute(stmt.order_by(col(SyncJob.created_at).desc()).limit(1))).scalar_one_or_none()


async def newest_first(
    tenant: Tenant, limit: int, before: tuple[datetime, uuid.UUID] | None, kind: str | None, status: str | None
) -> Sequence[SyncJob]:
    stmt = tenant.select(SyncJob)
    if kind:
        stmt = stmt.where(col(SyncJob.kind) == kind)
    if status:
        stmt = stmt.where(col(SyncJob.status) == status)
    if before is not None:
        stmt = stmt.where(tuple_(col(SyncJob.created_at), col(SyncJob.id)) < tuple_(*before))
    stmt = stmt.order_by(col(SyncJob.created_at).desc(), col(SyncJob.id).desc()).limit(limit + 1)
    return (await tenant.session.execute(stmt)).scalars().all()
