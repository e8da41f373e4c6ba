"""Retention decisions: the policy, who becomes inactive when, and the anonymisation run."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.errors import ProblemError, Unprocessable
from app.events import emit
from app.models.base import utcnow
from app.pagination import Page, decode_cursor, encode_cursor
from app.pupils.deletion import purge_due
from app.results.service import school_suites
from app.retention import repository
from app.retention.schemas import DueItem, PolicyPatch, RetentionPolicy, RetentionRunOut, SuitePeriod
from app.tenancy import Tenant

log = logging.getLogger("misync.retention")

DUE_SORT = "due_on"


async def policy(tenant: Tenant) -> RetentionPolicy:
    return RetentionPolicy(
        suites=[
            SuitePeriod(
                suite=s.code,
                name=s.name,
                retention_years=s.retention_years,
                default_years=s.default_years,
                common=s.common,
            )
            for s in (await school_suites(tenant)).values()
        ]
    )


async def change_policy(tenant: Tenant, body: PolicyPatch) -> RetentionPolicy:
    """Set the periods of the suites named; audited with each old and new period."""
    suites = await school_suites(tenant)
    errors: list[ProblemError] = []
    seen: set[str] = set()
    for n, change in enumerate(body.suites):
        if change.suite not in suites:
            errors.append(ProblemError(loc=["body", "suites", n, "suite"], msg=f"unknown suite {change.suite!r}"))
        elif change.suite in seen:
            errors.append(ProblemError(loc=["body", "suites", n, "suite"], msg="this suite is named twice"))
        seen.add(change.suite)
    if errors:
        raise Unprocessable("Nothing was changed; see errors", errors=errors)
    changes: dict[str, list[int]] = {}
    for change in body.suites:
        suite = suites[change.suite]
        new = suite.default_years if change.retention_years is None else change.retention_years
        if new != suite.retention_years:
            changes[suite.code] = [suite.retention_years, new]
    if changes:
        await repository.set_periods(tenant, {c.suite: c.retention_years for c in body.suites}, utcnow())
        await audit.record(
            tenant.session,
            school_id=tenant.school_id,
            actor=tenant.actor,
            action="retention.policy_changed",
            entity_type="school",
            entity_id=tenant.school_id,
            data={"changes": changes},
        )
    return await policy(tenant)


async def due(tenant: Tenant, within_days: int, limit: int, cursor: str | None) -> Page[DueItem]:
    """Who becomes inactive, per pupil and suite, on or before today (UTC) plus ``within_days``; rows
    already due are anonymised by the next run."""
    after = decode_cursor(cursor, DUE_SORT) if cursor else None
    until = utcnow().date() + timedelta(days=within_days)
    rows = list(await repository.due_page(tenant, until, limit, after))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(DUE_SORT, [last.due_on.isoformat(), last.sort_key, str(last.pupil_id), last.suite])
    return Page[DueItem](
        items=[DueItem.model_validate(r, from_attributes=True) for r in rows[:limit]], next_cursor=next_cursor
    )


async def run(session: AsyncSession, as_of: date | None, *, actor: str) -> RetentionRunOut:
    """Purge pupils whose deletion is due, then anonymise every result the rule names on ``as_of``, in
    every school, in the caller's transaction. Idempotent: a second run for the same day changes nothing.

    Each school with results anonymised gets an audit event and a ``pupils.anonymised`` event with counts
    only. ``as_of`` may not be after today (UTC): a run never anonymises earlier than the policy says.
    """
    today = utcnow().date()
    as_of = as_of or today
    if as_of > today:
        msg = "as_of may not be after today (UTC): anonymisation cannot be undone"
        raise Unprocessable(msg, errors=[ProblemError(loc=["body", "as_of"], msg=msg)])
    await repository.lock_runs(session)
    # Purge first: a deleted pupil's results go with it (CASCADE) rather than being kept anonymised.
    purged = await purge_due(session, as_of)
    now = utcnow()
    rows = await repository.anonymise_due(session, as_of, now)
    forgotten = await repository.forget_finished_tokens(session)
    by_school: dict[Any, dict[str, Any]] = defaultdict(lambda: {"results": 0, "learners": 0, "suites": {}})
    for school_id, suite, n, learners in rows:
        counts = by_school[school_id]
        counts["results"] += n
        counts["learners"] = learners
        counts["suites"][suite] = n
    for school_id, counts in by_school.items():
        data = {"as_of": as_of.isoformat(), **counts}
        await audit.record(
            session,
            school_id=school_id,
            actor=actor,
            action="results.anonymised",
            entity_type="school",
            entity_id=school_id,
            data=data,
        )
        await emit(session, school_id, "pupils.anonymised", data)
    out = RetentionRunOut(
        as_of=as_of,
        schools=len(by_school),
        results_anonymised=sum(c["results"] for c in by_school.values()),
        learners_anonymised=sum(c["learners"] for c in by_school.values()),
        pupils_purged=purged,
    )
    await audit.record(
        session,
        school_id=None,
        actor=actor,
        action="retention.run",
        entity_type="retention",
        data={**out.model_dump(mode="json"), "tokens_forgotten": forgotten},
    )
    log.info("retention run", extra={k: v for k, v in out.model_dump(mode="json").items()})
    return out
