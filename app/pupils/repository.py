"""Pupil queries. Every one starts from ``Tenant.select``."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, tuple_
from sqlmodel import col

from app.models import ClassMembership, Pupil
from app.pupils.schemas import PupilFilter, PupilSort
from app.tenancy import Tenant
from app.text import fold, like_pattern

_SORT_COLUMNS: dict[str, tuple[Any, ...]] = {
    "surname": (col(Pupil.sort_key), col(Pupil.id)),
    "sync_status": (col(Pupil.sync_status), col(Pupil.sort_key), col(Pupil.id)),
    "year_group": (col(Pupil.year_rank), col(Pupil.sort_key), col(Pupil.id)),
}


def filter_conditions(tenant: Tenant, f: PupilFilter) -> list[ColumnElement[bool]]:
    """SQL conditions for a filter (never includes pupils pending deletion)."""
    conds: list[ColumnElement[bool]] = [col(Pupil.pending_deletion_until).is_(None)]
    if f.access == "with":
        conds.append(col(Pupil.has_access).is_(True))
    elif f.access == "without":
        conds.append(col(Pupil.has_access).is_(False))
    if f.sync_status is not None:
        conds.append(col(Pupil.sync_status) == f.sync_status)
    if f.year_group is not None:
        conds.append(col(Pupil.year_group) == f.year_group)
    if f.class_id is not None:
        conds.append(
            exists().where(
                col(ClassMembership.pupil_id) == col(Pupil.id),
                col(ClassMembership.class_id) == f.class_id,
                col(ClassMembership.school_id) == tenant.school_id,
            )
        )
    if f.q and (needle := fold(f.q)):
        conds.append(col(Pupil.search_text).like(like_pattern(needle)))
    return conds


def select_ids(tenant: Tenant, f: PupilFilter) -> Select[Any]:
    """``SELECT id`` of the pupils a filter selects, for set-based bulk statements."""
    return tenant.select_columns(Pupil, col(Pupil.id)).where(*filter_conditions(tenant, f))


async def page(tenant: Tenant, f: PupilFilter, sort: PupilSort, limit: int, after: list[Any] | None) -> Sequence[Pupil]:
    """Up to ``limit + 1`` pupils in ``sort`` order after the cursor values ``after``."""
    descending = sort.startswith("-")
    cols = _SORT_COLUMNS[sort.lstrip("-")]
    stmt = tenant.select(Pupil).where(*filter_conditions(tenant, f))
    if after is not None:
        values = list(after)
        values[-1] = uuid.UUID(str(values[-1]))
        key, bound = tuple_(*cols), tuple_(*values)
        stmt = stmt.where(key < bound if descending else key > bound)
    order = [c.desc() for c in cols] if descending else list(cols)
    return (await tenant.session.execute(stmt.order_by(*order).limit(limit + 1))).scalars().all()


def cursor_values(pupil: Pupil, sort: PupilSort) -> list[Any]:
    """The values of ``pupil`` a cursor must carry for ``sort``."""
    names = [c.key for c in _SORT_COLUMNS[sort.lstrip("-")]]
    return [str(v) if isinstance(v, uuid.UUID) else v for v in (getattr(pupil, n) for n in names)]


async def count(tenant: Tenant, f: PupilFilter) -> int:
    stmt = tenant.select_columns(Pupil, func.count()).where(*filter_conditions(tenant, f))
    return int((await tenant.session.execute(stmt)).scalar_one())


async def class_ids_of(tenant: Tenant, pupil_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Class ids of each pupil, in one query."""
    out: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if not pupil_ids:
        return out
    rows = await tenant.session.execute(
        tenant.select_columns(ClassMembership, col(ClassMembership.pupil_id), col(ClassMembership.class_id))
        .where(col(ClassMembership.pupil_id).in_(pupil_ids))
        .order_by(col(ClassMembership.created_at))
    )
    for pupil_id, class_id in rows:
        out[pupil_id].append(class_id)
    return out


async def existing_ids(tenant: Tenant, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` are pupils of this school (pending deletion included)."""
    if not ids:
        return set()
    rows = await tenant.session.execute(tenant.select_columns(Pupil, col(Pupil.id)).where(col(Pupil.id).in_(ids)))
    return set(rows.scalars().all())
