"""Pupil queries. Every one starts from ``Tenant.select``."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Uuid, any_, exists, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col

from app.errors import BadRequest
from app.models import ClassMembership, Pupil
from app.pupils.schemas import PupilFilter, PupilOut, PupilSort
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
    # Every word of ``q`` must appear, in any order ("obrien zoe" finds Zoë O'Brien).
    conds.extend(col(Pupil.search_text).like(like_pattern(word)) for word in fold(f.q).split())
    return conds


def id_is_any(column: Any, ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """``column = ANY(:ids)`` with one array parameter: an ``IN`` list of 100,000 ids would exceed the
    driver's limit of 32,767 parameters."""
    return cast(ColumnElement[bool], column == any_(literal(list(ids), ARRAY(Uuid()))))


def select_ids(tenant: Tenant, f: PupilFilter) -> Select[Any]:
    """``SELECT id`` of the pupils a filter selects, for set-based bulk statements."""
    return tenant.select_columns(Pupil, col(Pupil.id)).where(*filter_conditions(tenant, f))


#: The columns a pupil is shown with (PupilOut), read as plain rows on the list's hot path.
OUT_COLUMNS = tuple(name for name in PupilOut.model_fields if name != "class_ids")


async def page(
    tenant: Tenant, f: PupilFilter, sort: PupilSort, limit: int, after: list[Any] | None
) -> list[dict[str, Any]]:
    """Up to ``limit + 1`` pupils in ``sort`` order after the cursor values ``after``: the shown columns,
    ``class_ids`` and the sort columns, as plain dicts, in one query."""
    descending = sort.startswith("-")
    cols = _SORT_COLUMNS[sort.lstrip("-")]
    class_ids = func.array(
        select(col(ClassMembership.class_id))
        .where(col(ClassMembership.pupil_id) == col(Pupil.id))
        .order_by(col(ClassMembership.created_at))
        .scalar_subquery()
    ).label("class_ids")
    table = Pupil.__table__.c  # type: ignore[attr-defined]
    shown = {*OUT_COLUMNS, *(c.key for c in cols)}
    stmt = tenant.select_columns(Pupil, *(table[name] for name in shown), class_ids).where(
        *filter_conditions(tenant, f)
    )
    if after is not None:
        values = _checked_cursor(after, cols)
        key, bound = tuple_(*cols), tuple_(*values)
        stmt = stmt.where(key < bound if descending else key > bound)
    order = [c.desc() for c in cols] if descending else list(cols)
    rows = await tenant.session.execute(stmt.order_by(*order).limit(limit + 1))
    return [dict(row._mapping) for row in rows]


def _checked_cursor(after: list[Any], cols: tuple[Any, ...]) -> list[Any]:
    """The cursor's values, or BadRequest when they do not fit the sort (a cursor edited by hand)."""
    values = list(after)
    kinds = [int if c.key == "year_rank" else str for c in cols[:-1]]
    try:
        if len(values) != len(cols) or not all(
            isinstance(v, k) and not isinstance(v, bool) for v, k in zip(values, kinds, strict=False)
        ):
            raise ValueError("wrong shape")
        values[-1] = uuid.UUID(str(values[-1]))
    except ValueError as exc:
        raise BadRequest("The cursor is not one this service made") from exc
    return values


def cursor_values(pupil: dict[str, Any], sort: PupilSort) -> list[Any]:
    """The values of ``pupil`` a cursor must carry for ``sort``."""
    names = [c.key for c in _SORT_COLUMNS[sort.lstrip("-")]]
    return [str(v) if isinstance(v, uuid.UUID) else v for v in (pupil[n] for n in names)]


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
    rows = await tenant.session.execute(
        tenant.select_columns(Pupil, col(Pupil.id)).where(id_is_any(col(Pupil.id), ids))
    )
    return set(rows.scalars().all())


async def set_access(
    tenant: Tenant, conditions: Sequence[ColumnElement[bool]], has_access: bool, now: datetime
) -> list[uuid.UUID]:
    """Set ``has_access`` on the pupils meeting ``conditions`` whose access differs, in one statement (a
    single scan of the school's pupils, no self-join); returns the ids it changed. Pupils pending deletion
    are left as they are."""
    stmt = (
        update(Pupil)
        .where(
            tenant.owns(Pupil),
            *conditions,
            col(Pupil.has_access).is_not(has_access),
            col(Pupil.pending_deletion_until).is_(None),
        )
        .values(has_access=has_access, updated_at=now)
        .returning(col(Pupil.id))
        .execution_options(synchronize_session=False)
    )
    return list((await tenant.session.execute(stmt)).scalars().all())
