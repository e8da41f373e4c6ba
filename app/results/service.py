"""Result decisions: what a batch may record, the school's suites, and how results are shown."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError

from app import audit, year_groups
from app.errors import Conflict, ProblemError, Unprocessable
from app.models import Class, Pupil, Result, ResultSuite, School
from app.models.base import utcnow
from app.results import repository
from app.results.schemas import (
    Marksheet,
    MarksheetResult,
    MarksheetRow,
    ResultList,
    ResultOut,
    ResultsCreate,
    ResultsCreated,
    SuiteCreate,
    SuiteOut,
    YearGroupLine,
    YearGroupReport,
)
from app.results.suites import COMMON_SUITES, Suite, default_years, normalise_code
from app.tenancy import Tenant

#: At most this many per-item errors are listed (``error_count`` says how many there were).
MAX_LISTED_ERRORS = 1000
NO_PUPIL = "no pupil with this id"


async def school_suites(tenant: Tenant) -> dict[str, Suite]:
    """The school's suites by code: the common ones, then its own, with effective retention periods."""
    rows = {r.code: r for r in await repository.suite_rows(tenant)}
    out: dict[str, Suite] = {}
    for code in [*COMMON_SUITES, *sorted(set(rows) - set(COMMON_SUITES))]:
        row = rows.get(code)
        default = default_years(code)
        out[code] = Suite(
            code=code,
            name=COMMON_SUITES.get(code) or (row.name if row else None),
            common=code in COMMON_SUITES,
            retention_years=row.retention_years if row and row.retention_years is not None else default,
            default_years=default,
        )
    return out


def suite_out(suite: Suite) -> SuiteOut:
    return SuiteOut(
        code=suite.code,
        name=suite.name,
        common=suite.common,
        retention_years=suite.retention_years,
        default_years=suite.default_years,
    )


async def school_today(tenant: Tenant) -> date:
    """Today's date where the school is (its ``timezone`` setting; Europe/London by default)."""
    school = await tenant.session.get(School, tenant.school_id)
    name = str((school.settings if school else {}).get("timezone") or "Europe/London")
    try:
        zone: Any = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return utcnow().astimezone(zone).date()


async def record(tenant: Tenant, body: ResultsCreate) -> ResultsCreated:
    """Record a batch: every item, or none with a 422 listing each invalid item.

    A pupil of another school gets the same message as an unknown id (it is never revealed).
    """
    items = body.items
    suites = await school_suites(tenant)
    today = await school_today(tenant)
    pupil_ids = list(dict.fromkeys(i.pupil_id for i in items))
    pending = await repository.pupil_states(tenant, pupil_ids)
    recorded = await repository.recorded_keys(
        tenant, [p for p in pupil_ids if p in pending], [i.suite for i in items if i.suite in suites]
    )
    errors: list[ProblemError] = []
    first_seen: dict[tuple[uuid.UUID, str, date], int] = {}
    for n, item in enumerate(items):
        loc: list[str | int] = ["body", "items", n]
        if item.pupil_id not in pending:
            errors.append(ProblemError(loc=[*loc, "pupil_id"], msg=NO_PUPIL))
        elif pending[item.pupil_id]:
            errors.append(ProblemError(loc=[*loc, "pupil_id"], msg="the pupil is pending deletion; restore it first"))
        if item.suite not in suites:
            errors.append(
                ProblemError(loc=[*loc, "suite"], msg=f"unknown suite {item.suite!r}; add it with POST /v1/suites")
            )
        if item.taken_on > today:
            errors.append(ProblemError(loc=[*loc, "taken_on"], msg="taken_on is in the future"))
        key = (item.pupil_id, item.suite, item.taken_on)
        if key in recorded:
            errors.append(ProblemError(loc=loc, msg="a result of this pupil, suite and date is already recorded"))
        elif key in first_seen:
            errors.append(ProblemError(loc=loc, msg=f"the same pupil, suite and date as item {first_seen[key]}"))
        else:
            first_seen[key] = n
    if errors:
        bad = len({e.loc[2] for e in errors})
        raise Unprocessable(
            f"{bad} of {len(items)} items are invalid; nothing was recorded",
            errors=errors[:MAX_LISTED_ERRORS],
            extra={"error_count": len(errors)},
        )
    ids = [uuid.uuid4() for _ in items]
    rows = [(rid, i.pupil_id, i.suite, i.taken_on, i.score) for rid, i in zip(ids, items, strict=True)]
    try:
        async with tenant.session.begin_nested():
            created = await repository.insert(tenant, rows, utcnow())
    except IntegrityError as exc:  # a concurrent request recorded one of these results first
        raise Conflict(
            "Some of these results were recorded by another request meanwhile; nothing was recorded"
        ) from exc
    if created != len(rows):
        raise Conflict("Some of the pupils were deleted meanwhile; nothing was recorded")
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="results.recorded",
        entity_type="school",
        entity_id=tenant.school_id,
        data={"created": created, "suites": dict(Counter(i.suite for i in items))},
    )
    return ResultsCreated(created=created, ids=ids)


def to_out(result: Result) -> ResultOut:
    return ResultOut.model_validate(result.model_dump())


async def _known_suite(tenant: Tenant, suite: str | None) -> str | None:
    """The suite code of a query parameter; 422 when the school has no such suite."""
    if suite is None:
        return None
    try:
        code = normalise_code(suite)
    except ValueError as exc:
        raise Unprocessable(str(exc), errors=[ProblemError(loc=["query", "suite"], msg=str(exc))]) from None
    if code not in await school_suites(tenant):
        msg = f"unknown suite {code!r}"
        raise Unprocessable(msg, errors=[ProblemError(loc=["query", "suite"], msg=msg)])
    return code


async def of_pupil(tenant: Tenant, pupil_id: uuid.UUID, suite: str | None) -> ResultList:
    await tenant.get(Pupil, pupil_id, "pupil")
    rows = await repository.of_pupil(tenant, pupil_id, await _known_suite(tenant, suite))
    return ResultList(items=[to_out(r) for r in rows], total=len(rows))


async def marksheet(tenant: Tenant, class_id: uuid.UUID, suite: str | None) -> Marksheet:
    cls = await tenant.get(Class, class_id, "class")
    code = await _known_suite(tenant, suite)
    pupils = await repository.marksheet_pupils(tenant, cls.id)
    by_pupil: dict[uuid.UUID, list[MarksheetResult]] = {p.id: [] for p in pupils}
    for r in await repository.marksheet_results(tenant, cls.id, code):
        if r.pupil_id in by_pupil:
            by_pupil[r.pupil_id].append(MarksheetResult.model_validate(r.model_dump()))
    return Marksheet(
        class_id=cls.id,
        class_name=cls.name,
        suite=code,
        pupils=[
            MarksheetRow(
                pupil_id=p.id, forename=p.forename, surname=p.surname, year_group=p.year_group, results=by_pupil[p.id]
            )
            for p in pupils
        ],
    )


def _rank(year_group: str | None) -> int:
    rank = year_groups.rank(year_group)
    return 99 if rank is None else rank


async def year_group_report(
    tenant: Tenant, suite: str | None, taken_from: date | None, taken_to: date | None
) -> YearGroupReport:
    code = await _known_suite(tenant, suite)
    lines = await repository.year_group_lines(tenant, code, taken_from, taken_to)
    items = [
        YearGroupLine(
            suite=s,
            year_group=y,
            results=n,
            pupils=p,
            scored=k,
            mean_standard_score=None if mean is None else float(round(Decimal(mean), 2)),
        )
        for s, y, n, p, k, mean in lines
    ]
    items.sort(key=lambda line: (line.suite, _rank(line.year_group), line.year_group or ""))
    return YearGroupReport(items=items)


async def list_suites(tenant: Tenant) -> list[SuiteOut]:
    return [suite_out(s) for s in (await school_suites(tenant)).values()]


async def create_suite(tenant: Tenant, body: SuiteCreate) -> SuiteOut:
    """Add a suite of the school's own; Conflict when the school already has that code."""
    if body.code in await school_suites(tenant):
        raise Conflict(f"The school already has a suite {body.code!r}")
    now = utcnow()
    row = ResultSuite(
        school_id=tenant.school_id,
        code=body.code,
        name=body.name,
        retention_years=body.retention_years,
        created_at=now,
        updated_at=now,
    )
    tenant.session.add(row)
    try:
        async with tenant.session.begin_nested():
            await tenant.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The school already has a suite {body.code!r}") from exc
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="suite.created",
        entity_type="suite",
        entity_id=body.code,
        data={"name": body.name, "retention_years": body.retention_years or default_years(body.code)},
    )
    return suite_out((await school_suites(tenant))[body.code])
