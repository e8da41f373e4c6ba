"""Class and membership queries, scoped by ``Tenant``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Select, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col

from app.models import Class, ClassMembership, Pupil
from app.models.base import utcnow
from app.tenancy import Tenant


async def pupil_counts(tenant: Tenant, class_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Members of each class (pupils pending deletion not counted), in one query."""
    if not class_ids:
        return {}
    stmt = (
        tenant.select_columns(ClassMembership, col(ClassMembership.class_id), func.count())
        .join(Pupil, col(Pupil.id) == col(ClassMembership.pupil_id))
        .where(col(ClassMembership.class_id).in_(class_ids), col(Pupil.pending_deletion_until).is_(None))
        .group_by(col(ClassMembership.class_id))
    )
    return {cid: int(n) for cid, n in (await tenant.session.execute(stmt)).all()}


async def find_by_name_key(tenant: Tenant, name_key: str) -> Class | None:
    stmt = tenant.select(Class).where(col(Class.name_key) == name_key)
    return (await tenant.session.execute(stmt)).scalar_one_or_none()


async def list_all(tenant: Tenant) -> Sequence[Class]:
    stmt = tenant.select(Class).order_by(col(Class.name_key), col(Class.id))
    return (await tenant.session.execute(stmt)).scalars().all()


async def add_members(tenant: Tenant, class_id: uuid.UUID, pupil_ids: Select[Any], *, mis_managed: bool = False) -> int:
    """Add the pupils ``pupil_ids`` (a ``SELECT id``) selects to a class, in one statement; returns how
    many were not members before."""
    ids = pupil_ids.subquery()
    stmt = (
        pg_insert(ClassMembership)
        .from_select(
            ["class_id", "pupil_id", "school_id", "mis_managed", "created_at"],
            select(literal(class_id), ids.c[0], literal(tenant.school_id), literal(mis_managed), literal(utcnow())),
        )
        .on_conflict_do_nothing()
    )
    result = await tenant.session.execute(stmt)
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def remove_member(tenant: Tenant, class_id: uuid.UUID, pupil_id: uuid.UUID) -> bool:
    stmt = delete(ClassMembership).where(
        col(ClassMembership.school_id) == tenant.school_id,
        col(ClassMembership.class_id) == class_id,
        col(ClassMembership.pupil_id) == pupil_id,
    )
    result = await tenant.session.execute(stmt)
    return bool(cast(CursorResult[Any], result).rowcount)
