"""Request and response bodies for results, marksheets, reports and suites."""

from __future__ import annotations

import json
import math
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from app.results.suites import MAX_RETENTION_YEARS, MIN_RETENTION_YEARS, normalise_code
from app.schemas import Body

#: Limits of a result's ``score`` object.
MAX_SCORE_BYTES = 1024
MAX_SCORE_DEPTH = 3
MAX_BATCH = 10_000
#: The key of the standard score (the standard age score, mean 100, SD 15) in ``score``.
STANDARD_SCORE_KEY = "sas"
MAX_STANDARD_SCORE = 200


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _score(value: dict[str, Any]) -> dict[str, Any]:
    if not value:
        raise ValueError("score needs at least one field")
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except ValueError:
        raise ValueError("score values must be finite numbers") from None
    if size > MAX_SCORE_BYTES:
        raise ValueError(f"score is too large: at most {MAX_SCORE_BYTES} bytes of JSON")
    if _depth(value) > MAX_SCORE_DEPTH:
        raise ValueError(f"score is nested too deeply: at most {MAX_SCORE_DEPTH} levels")
    sas = value.get(STANDARD_SCORE_KEY)
    if STANDARD_SCORE_KEY in value and (
        isinstance(sas, bool)
        or not isinstance(sas, int | float)
        or not math.isfinite(sas)
        or not 0 <= sas <= MAX_STANDARD_SCORE
    ):
        raise ValueError(f"score.{STANDARD_SCORE_KEY} (the standard score) is a number from 0 to {MAX_STANDARD_SCORE}")
    return value


SuiteCode = Annotated[str, StringConstraints(max_length=40), AfterValidator(normalise_code)]
Score = Annotated[
    dict[str, Any],
    AfterValidator(_score),
    Field(
        description=f"The suite's scores, a JSON object of at most {MAX_SCORE_BYTES} bytes and {MAX_SCORE_DEPTH} "
        f"levels. `{STANDARD_SCORE_KEY}` is the standard score (standard age score, mean 100): reports average "
        "it; when present it must be a number from 0 to 200.",
        examples=[{"raw": 34, "sas": 104, "stanine": 5, "percentile": 61}],
    ),
]


class ResultIn(Body):
    """One result to record."""

    pupil_id: uuid.UUID
    suite: SuiteCode = Field(description="A suite code of the school (case ignored), e.g. PTE, PTM, CAT4.")
    taken_on: date = Field(description="The test date; not after today (in the school's time zone).")
    score: Score


class ResultsCreate(Body):
    """A batch of results: all are recorded, or none (then the 422 lists every invalid item)."""

    items: list[ResultIn] = Field(min_length=1, max_length=MAX_BATCH)


class ResultsCreated(BaseModel):
    """How many results were recorded, and their ids in the order of the items."""

    created: int
    ids: list[uuid.UUID]


class ResultOut(BaseModel):
    """A test result. ``year_group`` is the pupil's year group when it was recorded."""

    id: uuid.UUID
    pupil_id: uuid.UUID
    suite: str
    taken_on: date
    score: dict[str, Any]
    year_group: str | None
    created_at: datetime


class ResultList(BaseModel):
    """A pupil's results, oldest first (one page: a pupil has at most a few dozen)."""

    items: list[ResultOut]
    next_cursor: str | None = None
    total: int


class MarksheetResult(BaseModel):
    id: uuid.UUID
    suite: str
    taken_on: date
    score: dict[str, Any]
    year_group: str | None


class MarksheetRow(BaseModel):
    """A pupil of the class with their results (oldest first; empty when they have none)."""

    pupil_id: uuid.UUID
    forename: str
    surname: str
    year_group: str | None
    results: list[MarksheetResult]


class Marksheet(BaseModel):
    """A class's pupils with access, in class order (surname, then forename), with their results."""

    class_id: uuid.UUID
    class_name: str
    suite: str | None
    pupils: list[MarksheetRow]


class YearGroupLine(BaseModel):
    """Results of one suite and year group (the year group at the time of each result)."""

    suite: str
    year_group: str | None
    results: int
    pupils: int
    scored: int = Field(description="Results with a standard score (`score.sas`).")
    mean_standard_score: float | None = Field(description="Mean of `score.sas`, 2 decimals; null when none.")


class YearGroupReport(BaseModel):
    """Count and mean standard score per suite and year group, for pupils with access."""

    items: list[YearGroupLine]


class SuiteOut(BaseModel):
    """An assessment suite of the school."""

    code: str
    name: str | None
    common: bool = Field(description="One of the common suites every school has.")
    retention_years: int
    default_years: int


class SuiteList(BaseModel):
    items: list[SuiteOut]


class SuiteCreate(Body):
    """A suite of the school's own."""

    code: SuiteCode
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    retention_years: int | None = Field(
        default=None,
        ge=MIN_RETENTION_YEARS,
        le=MAX_RETENTION_YEARS,
        description="Retention period in calendar years (default 2).",
    )
