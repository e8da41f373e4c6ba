"""Result endpoints: recording, a pupil's results, class marksheets, year-group reports and suites."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth import Coordinator, Reader
from app.errors import COMMON_PROBLEMS, problems
from app.results import service
from app.results.schemas import (
    Marksheet,
    ResultList,
    ResultsCreate,
    ResultsCreated,
    SuiteCreate,
    SuiteList,
    SuiteOut,
    YearGroupReport,
)

router = APIRouter(prefix="/v1", tags=["results"], responses=COMMON_PROBLEMS)

SuiteQuery = Annotated[str | None, Query(max_length=40, description="A suite code, e.g. PTE (case ignored).")]


@router.post("/results", status_code=status.HTTP_201_CREATED, response_model=ResultsCreated, responses=problems(409))
async def create_results(tenant: Coordinator, body: ResultsCreate) -> ResultsCreated:
    """Record up to 10,000 results at once: all of them, or none.

    Each item needs a pupil of the school (not pending deletion), one of the school's suites
    (`GET /v1/suites`), a `taken_on` date not after today in the school's time zone, and a small `score`
    object. One result per pupil, suite and date. When any item is invalid nothing is recorded and the
    422 problem lists every invalid item in `errors` (`loc`: `["body", "items", index, field]`). Each
    result keeps the pupil's year group at the time it is recorded."""
    return await service.record(tenant, body)


@router.get("/pupils/{pupil_id}/results", response_model=ResultList)
async def list_pupil_results(tenant: Reader, pupil_id: uuid.UUID, suite: SuiteQuery = None) -> ResultList:
    """A pupil's results, oldest first (also for a pupil without access). Anonymised results are no
    longer the pupil's and are never shown."""
    return await service.of_pupil(tenant, pupil_id, suite)


@router.get("/classes/{class_id}/marksheet", response_model=Marksheet)
async def get_class_marksheet(tenant: Reader, class_id: uuid.UUID, suite: SuiteQuery = None) -> Marksheet:
    """The class's pupils with access, in class order (surname, then forename, accents and case ignored),
    each with their results of `suite` (every suite when omitted), oldest first. Pupils without access or
    pending deletion are left out; a pupil with no result still has a row."""
    return await service.marksheet(tenant, class_id, suite)


@router.get("/reports/year-groups", response_model=YearGroupReport)
async def get_year_group_report(
    tenant: Reader,
    suite: SuiteQuery = None,
    taken_from: Annotated[date | None, Query(description="Only results taken on or after this date.")] = None,
    taken_to: Annotated[date | None, Query(description="Only results taken on or before this date.")] = None,
) -> YearGroupReport:
    """Per suite and year group: how many results and pupils, and the mean standard score.

    The standard score is `score.sas` (the standard age score; results without a numeric `sas` are
    counted but not averaged). The year group is the pupil's year group when the result was recorded.
    Only pupils with access (not pending deletion) count. Sorted by suite, then year group by age."""
    return await service.year_group_report(tenant, suite, taken_from, taken_to)


@router.get("/suites", response_model=SuiteList)
async def list_suites(tenant: Reader) -> SuiteList:
    """The school's assessment suites: the common ones (PTE, PTM, PTS, NGRT, NGST, CAT4, ART, AMT), then
    the school's own, each with its retention period."""
    return SuiteList(items=await service.list_suites(tenant))


@router.post("/suites", status_code=status.HTTP_201_CREATED, response_model=SuiteOut, responses=problems(409))
async def create_suite(tenant: Coordinator, body: SuiteCreate) -> SuiteOut:
    """Add a suite of the school's own (code upper-cased). 409 when the school already has that code."""
    return await service.create_suite(tenant, body)
