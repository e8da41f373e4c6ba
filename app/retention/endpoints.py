"""Retention endpoints: the school's policy and due list, and the operator's run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth import Coordinator, Reader, require_operator
from app.db import SessionDep
from app.errors import COMMON_PROBLEMS
from app.pagination import Cursor, Limit, Page
from app.retention import service
from app.retention.schemas import DueItem, PolicyPatch, RetentionPolicy, RetentionRun, RetentionRunOut

router = APIRouter(prefix="/v1/retention", tags=["retention"], responses=COMMON_PROBLEMS)
admin_router = APIRouter(
    prefix="/v1/admin", tags=["admin"], responses=COMMON_PROBLEMS, dependencies=[Depends(require_operator)]
)


@router.get("/policy", response_model=RetentionPolicy)
async def get_retention_policy(tenant: Reader) -> RetentionPolicy:
    """The school's retention period for each suite, in calendar years (defaults: 2 years; 3 for ART and
    AMT), and the rule that applies them."""
    return await service.policy(tenant)


@router.patch("/policy", response_model=RetentionPolicy)
async def update_retention_policy(tenant: Coordinator, body: PolicyPatch) -> RetentionPolicy:
    """Change the periods of the suites named (`retention_years: null` restores the default); other
    suites keep theirs. Audited with each old and new period. A shorter period takes effect at the next
    daily run, and anonymisation cannot be undone."""
    return await service.change_policy(tenant, body)


@router.get("/due", response_model=Page[DueItem])
async def list_retention_due(
    tenant: Reader,
    within_days: Annotated[int, Query(ge=0, le=3660, description="Days ahead of today (UTC).")] = 30,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[DueItem]:
    """Who becomes inactive when: per pupil and suite, the day their results of that suite will be
    anonymised, for every day up to today plus `within_days` (rows already due go at the next daily
    run). Sorted by that day, then surname. A new result of any suite moves a pupil's days later."""
    return await service.due(tenant, within_days, limit, cursor)


@admin_router.post("/retention/run", response_model=RetentionRunOut)
async def admin_run_retention(session: SessionDep, body: RetentionRun | None = None) -> RetentionRunOut:
    """Run retention now for every school, as the daily job does: purge pupils whose deletion is due,
    then anonymise the results the rule names on `as_of` (default today; not after today). Idempotent;
    answers the counts. Each school with results anonymised gets an audit event and a
    `pupils.anonymised` event (counts only)."""
    return await service.run(session, (body or RetentionRun()).as_of, actor="operator")
