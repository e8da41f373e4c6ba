"""Result and suite queries. Reads start from ``Tenant.select``; the batch insert is one set-based
statement (``unnest``), scoped to the tenant's pupils in SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult, any_, bindparam, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col

from app.models import ClassMembership, Pupil, Result, ResultSuite
from app.tenancy import Tenant


def _uuids(name: str, values: Sequence[uuid.UUID]) -> Any:
    # One array parameter instead of one parameter per value (batches reach 10,000 items).
    return bindparam(name, list(values), type_=ARRAY(sa.Uuid()))


async def suite_rows(tenant: Tenant) -> Sequence[ResultSuite]:
    stmt = tenant.select(ResultSuite).order_by(col(ResultSuite.code))
    return (await tenant.session.execute(stmt)).scalars().all()


async def pupil_states(tenant: Tenant, pupil_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
    """For each of ``pupil_ids`` that is a pupil of this school: whether it is pending deletion."""
    if not pupil_ids:
        return {}
    stmt = tenant.select_columns(Pupil, col(Pupil.id), col(Pupil.pending_deletion_until)).where(
        col(Pupil.id) == any_(_uuids("pupil_ids", pupil_ids))
    )
    return {pid: pending is not None for pid, pending in (await tenant.session.execute(stmt)).all()}


async def recorded_keys(
    tenant: Tenant, pupil_ids: Sequence[uuid.UUID], suites: Sequence[str]
) -> set[tuple[uuid.UUID, str, date]]:
    """(pupil, suite, date) of the linked results of these pupils in these suites."""
    if not pupil_ids:
        return set()
    stmt = tenant.select_columns(Result, col(Result.pupil_id), col(Result.suite), col(Result.taken_on)).where(
        col(Result.pupil_id) == any_(_uuids("pupil_ids", pupil_ids)),
        col(Result.suite).in_(sorted(set(suites))),
    )
    return {(p, s, d) for p, s, d in (await tenant.session.execute(stmt)).all()}


_INSERT = text("""
    INSERT INTO results (id, school_id, pupil_id, suite, taken_on, score, year_group, created_at)
    SELECT v.id, p.school_id, v.pupil_id, v.suite, v.taken_on, v.score::jsonb, p.year_group, :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:pupil_ids AS uuid[]), CAST(:suites AS text[]),
                CAST(:dates AS date[]), CAST(:scores AS text[])) AS v(id, pupil_id, suite, taken_on, score)
    JOIN pupils p ON p.id = v.pupil_id AND p.school_id = :school_id
""")


async def insert(
    tenant: Tenant, rows: Sequence[tuple[uuid.UUID, uuid.UUID, str, date, dict[str, Any]]], now: datetime
) -> int:
    """Insert (id, pupil id, suite, date, score) rows in one statement, copying each pupil's current year
    group; returns how many went in (a row whose pupil is not the school's is left out)."""
    result = await tenant.session.execute(
        _INSERT,
        {
            "ids": [r[0] for r in rows],
            "pupil_ids": [r[1] for r in rows],
            "suites": [r[2] for r in rows],
            "dates": [r[3] for r in rows],
            "scores": [json.dumps(r[4], separators=(",", ":")) for r in rows],
            "school_id": tenant.school_id,
            "now": now,
        },
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def of_pupil(tenant: Tenant, pupil_id: uuid.UUID, suite: str | None) -> Sequence[Result]:
    """The pupil's (linked, so never anonymised) results, oldest first."""
    stmt = tenant.select(Result).where(col(Result.pupil_id) == pupil_id)
    if suite is not None:
        stmt = stmt.where(col(Result.suite) == suite)
    stmt = stmt.order_by(col(Result.taken_on), col(Result.suite), col(Result.id))
    return (await tenant.session.execute(stmt)).scalars().all()


def _visible_members(tenant: Tenant, class_id: uuid.UUID) -> list[Any]:
    """Conditions for pupils with access, not pending deletion, members of the class."""
    return [
        col(Pupil.has_access).is_(True),
        col(Pupil.pending_deletion_until).is_(None),
        sa.exists().where(
            col(ClassMembership.pupil_id) == col(Pupil.id),
            col(ClassMembership.class_id) == class_id,
            col(ClassMembership.school_id) == tenant.school_id,
        ),
    ]


async def marksheet_pupils(tenant: Tenant, class_id: uuid.UUID) -> Sequence[Pupil]:
    """The class's pupils with access in class order (the pupil list's surname sort)."""
    stmt = tenant.select(Pupil).where(*_visible_members(tenant, class_id)).order_by(col(Pupil.sort_key), col(Pupil.id))
    return (await tenant.session.execute(stmt)).scalars().all()


async def marksheet_results(tenant: Tenant, class_id: uuid.UUID, suite: str | None) -> Sequence[Result]:
    """The linked results of the class's pupils with access, oldest first."""
    stmt = (
        tenant.select(Result)
        .join(Pupil, col(Pupil.id) == col(Result.pupil_id))
        .where(*_visible_members(tenant, class_id))
    )
    if suite is not None:
        stmt = stmt.where(col(Result.suite) == suite)
    stmt = stmt.order_by(col(Result.taken_on), col(Result.suite), col(Result.id))
    return (await tenant.session.execute(stmt)).scalars().all()


def standard_score() -> Any:
    """``score.sas`` as a number when it is one (null otherwise)."""
    sas = col(Result.score).op("->")("sas")
    return sa.case(
        (func.jsonb_typeof(sas) == "number", sa.cast(col(Result.score).op("->>")("sas"), sa.Numeric)),
        else_=None,
    )


async def year_group_lines(
    tenant: Tenant, suite: str | None, taken_from: date | None, taken_to: date | None
) -> list[tuple[str, str | None, int, int, int, Any]]:
    """(suite, year group, results, pupils, scored, mean standard score) for pupils with access."""
    sas = standard_score()
    stmt = (
        tenant.select_columns(
            Result,
            col(Result.suite),
            col(Result.year_group),
            func.count(),
            func.count(sa.distinct(col(Result.pupil_id))),
            func.count(sas),
            func.avg(sas),
        )
        .join(Pupil, col(Pupil.id) == col(Result.pupil_id))
        .where(col(Pupil.has_access).is_(True), col(Pupil.pending_deletion_until).is_(None))
        .group_by(col(Result.suite), col(Result.year_group))
    )
    if suite is not None:
        stmt = stmt.where(col(Result.suite) == suite)
    if taken_from is not None:
        stmt = stmt.where(col(Result.taken_on) >= taken_from)
    if taken_to is not None:
        stmt = stmt.where(col(Result.taken_on) <= taken_to)
    return [(s, y, int(n), int(p), int(k), m) for s, y, n, p, k, m in (await tenant.session.execute(stmt)).all()]
