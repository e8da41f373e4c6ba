"""Retention queries: the due list (scoped by ``Tenant``) and the run (all schools, set-based).

Both compute the same rule: a (learner, suite) is due on the day after the anniversary, by the suite's
period, of the learner's most recent result of any suite. ``date + make_interval(years => n)`` maps
29 February to 28 February in a common year, like ``rules.anniversary``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult, func, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Pupil, Result, ResultSuite
from app.results.suites import DEFAULT_RETENTION_BY_SUITE, DEFAULT_RETENTION_YEARS
from app.tenancy import Tenant

#: Advisory lock that keeps two runs (cron and operator) from overlapping.
RUN_LOCK = int.from_bytes(hashlib.sha256(b"misync:retention-run").digest()[:8], "big", signed=True)


async def set_periods(tenant: Tenant, periods: Mapping[str, int | None], now: datetime) -> None:
    """Store the periods (null: back to the default) of these suites, in one statement."""
    stmt = pg_insert(ResultSuite).values(
        [
            {
                "school_id": tenant.school_id,
                "code": code,
                "retention_years": years,
                "created_at": now,
                "updated_at": now,
            }
            for code, years in periods.items()
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[col(ResultSuite.school_id), col(ResultSuite.code)],
        set_={"retention_years": stmt.excluded.retention_years, "updated_at": stmt.excluded.updated_at},
    )
    await tenant.session.execute(stmt)


def _defaults() -> Any:
    return (
        sa.values(sa.column("code", sa.String), sa.column("years", sa.Integer), name="suite_defaults")
        .data(sorted(DEFAULT_RETENTION_BY_SUITE.items()))
        .alias("suite_defaults")
    )


def _due_rows(tenant: Tenant) -> Any:
    """(learner, suite) rows of the school's linked results with their period and due date."""
    linked = col(Result.pupil_id).is_not(None)
    last = (
        tenant.select_columns(
            Result, col(Result.pupil_id).label("pupil_id"), func.max(col(Result.taken_on)).label("last_on")
        )
        .where(linked)
        .group_by(col(Result.pupil_id))
        .subquery("last")
    )
    per_suite = (
        tenant.select_columns(
            Result, col(Result.pupil_id).label("pupil_id"), col(Result.suite).label("suite"), func.count().label("n")
        )
        .where(linked)
        .group_by(col(Result.pupil_id), col(Result.suite))
        .subquery("per_suite")
    )
    defaults = _defaults()
    years = func.coalesce(col(ResultSuite.retention_years), defaults.c.years, DEFAULT_RETENTION_YEARS)
    due_on = sa.cast(sa.cast(last.c.last_on + func.make_interval(years), sa.Date) + 1, sa.Date)
    return (
        sa.select(
            per_suite.c.pupil_id,
            col(Pupil.forename),
            col(Pupil.surname),
            col(Pupil.year_group),
            col(Pupil.has_access),
            col(Pupil.sort_key),
            per_suite.c.suite,
            per_suite.c.n.label("results"),
            last.c.last_on.label("last_result_on"),
            years.label("retention_years"),
            due_on.label("due_on"),
        )
        .select_from(per_suite)
        .join(last, last.c.pupil_id == per_suite.c.pupil_id)
        .join(Pupil, sa.and_(col(Pupil.id) == per_suite.c.pupil_id, tenant.owns(Pupil)))
        .outerjoin(
            ResultSuite,
            sa.and_(tenant.owns(ResultSuite), col(ResultSuite.code) == per_suite.c.suite),
        )
        .outerjoin(defaults, defaults.c.code == per_suite.c.suite)
        .subquery("due")
    )


async def due_page(tenant: Tenant, until: date, limit: int, after: list[Any] | None) -> Sequence[Any]:
    """Up to ``limit + 1`` rows due on or before ``until``, by due date, then surname, pupil and suite."""
    due = _due_rows(tenant)
    key = (due.c.due_on, due.c.sort_key, due.c.pupil_id, due.c.suite)
    stmt = sa.select(due).where(due.c.due_on <= until)
    if after is not None:
        bound = (date.fromisoformat(after[0]), after[1], uuid.UUID(str(after[2])), after[3])
        stmt = stmt.where(tuple_(*key) > tuple_(*bound))
    return (await tenant.session.execute(stmt.order_by(*key).limit(limit + 1))).all()


async def lock_runs(session: AsyncSession) -> None:
    """Wait until no other run is in progress (released at commit or rollback)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RUN_LOCK})


# One statement for every school: find the due results, give each learner a token (the one already
# given for an earlier suite, else a new random one), and unlink the results. Counts come back per school
# and suite; nothing about the learners does.
_ANONYMISE = text("""
WITH last AS (
    SELECT pupil_id, max(taken_on) AS last_on FROM results WHERE pupil_id IS NOT NULL GROUP BY pupil_id
),
due AS MATERIALIZED (
    SELECT r.id, r.school_id, r.pupil_id
    FROM results r
    JOIN last ON last.pupil_id = r.pupil_id
    LEFT JOIN result_suites s ON s.school_id = r.school_id AND s.code = r.suite
    LEFT JOIN unnest(CAST(:codes AS text[]), CAST(:years AS int[])) AS d(code, years) ON d.code = r.suite
    WHERE r.pupil_id IS NOT NULL
      AND (last.last_on + make_interval(years => COALESCE(s.retention_years, d.years, :default_years)))::date
          < :as_of
),
learners AS (SELECT DISTINCT pupil_id, school_id FROM due),
new_tokens AS (
    INSERT INTO result_anon_tokens (pupil_id, school_id, token, created_at)
    SELECT pupil_id, school_id, gen_random_uuid(), :now FROM learners
    ON CONFLICT (pupil_id) DO NOTHING
    RETURNING pupil_id, token
),
tokens AS (
    SELECT pupil_id, token FROM new_tokens
    UNION ALL
    SELECT t.pupil_id, t.token FROM result_anon_tokens t JOIN learners l ON l.pupil_id = t.pupil_id
),
done AS (
    UPDATE results r SET pupil_id = NULL, anon_token = tokens.token, anonymised_at = :now
    FROM due JOIN tokens ON tokens.pupil_id = due.pupil_id
    WHERE r.id = due.id
    RETURNING r.school_id, r.suite, r.anon_token
),
per_suite AS (SELECT school_id, suite, count(*) AS n FROM done GROUP BY school_id, suite),
per_school AS (SELECT school_id, count(DISTINCT anon_token) AS learners FROM done GROUP BY school_id)
SELECT p.school_id, p.suite, p.n, s.learners FROM per_suite p JOIN per_school s USING (school_id)
ORDER BY p.school_id, p.suite
""")


async def anonymise_due(session: AsyncSession, as_of: date, now: datetime) -> list[tuple[uuid.UUID, str, int, int]]:
    """Anonymise every result the rule names on ``as_of``, in all schools; (school, suite, results,
    learners of the school) for each school and suite with any."""
    codes = sorted(DEFAULT_RETENTION_BY_SUITE)
    rows = await session.execute(
        _ANONYMISE,
        {
            "codes": codes,
            "years": [DEFAULT_RETENTION_BY_SUITE[c] for c in codes],
            "default_years": DEFAULT_RETENTION_YEARS,
            "as_of": as_of,
            "now": now,
        },
    )
    return [(s, suite, int(n), int(learners)) for s, suite, n, learners in rows.all()]


async def forget_finished_tokens(session: AsyncSession) -> int:
    """Delete the learner-token pairs of learners with no linked result left: from then on nothing links
    their anonymised results to them."""
    result = await session.execute(
        text("""
        DELETE FROM result_anon_tokens t
        WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.pupil_id = t.pupil_id)
    """)
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)
