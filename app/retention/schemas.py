"""Request and response bodies for the retention policy, the due list and the run."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field

from app.results.schemas import SuiteCode
from app.results.suites import MAX_RETENTION_YEARS, MIN_RETENTION_YEARS
from app.schemas import Body

RULE = (
    "A learner's results in a suite are anonymised once the learner's most recent result of any suite is "
    "older than the suite's retention period: from the day after that result's anniversary (29 February "
    "counts as 28 February in a common year). Anonymised results keep suite, date, score and year group, "
    "lose every link to the learner, and are no longer visible to the school."
)


class SuitePeriod(BaseModel):
    suite: str
    name: str | None
    retention_years: int
    default_years: int
    common: bool


class RetentionPolicy(BaseModel):
    """The school's retention periods, per suite, in calendar years."""

    rule: str = RULE
    suites: list[SuitePeriod]


class PeriodChange(Body):
    suite: SuiteCode
    retention_years: Annotated[int, Field(ge=MIN_RETENTION_YEARS, le=MAX_RETENTION_YEARS)] | None = Field(
        description="Calendar years; null restores the default."
    )


class PolicyPatch(Body):
    """New periods for the suites named; other suites keep theirs."""

    suites: list[PeriodChange] = Field(min_length=1, max_length=200)


class DueItem(BaseModel):
    """A pupil's results of one suite that will be anonymised on ``due_on`` (or at the next run, when
    ``due_on`` has passed)."""

    pupil_id: uuid.UUID
    forename: str
    surname: str
    year_group: str | None
    has_access: bool
    suite: str
    results: int
    last_result_on: date = Field(description="The learner's most recent result of any suite.")
    retention_years: int
    due_on: date


class RetentionRun(Body):
    as_of: date | None = Field(
        default=None, description="The day to apply the rule for (default today, UTC); not after today."
    )


class RetentionRunOut(BaseModel):
    """What a run did: pupils purged (their pending deletion ended) and results anonymised."""

    as_of: date
    schools: int = Field(description="Schools with results anonymised.")
    results_anonymised: int
    learners_anonymised: int
    pupils_purged: int
