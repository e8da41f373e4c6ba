"""The schedule as the API shows and takes it (stored in ``School.settings``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.schedule import timing
from app.schemas import Body

DEFAULT_PAUSE_FROM = "07-20"
DEFAULT_PAUSE_TO = "09-05"


class SummerPause(Body):
    """A yearly window (``MM-DD`` to ``MM-DD``, both days included) in which scheduled syncs only preview."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    from_: str = Field(alias="from", examples=["07-20"], description="First paused day, MM-DD.")
    to: str = Field(examples=["09-05"], description="Last paused day, MM-DD (may be before `from`: wraps the year).")

    @field_validator("from_", "to")
    @classmethod
    def _month_day(cls, value: str) -> str:
        timing.parse_month_day(value)
        return value


def default_pause() -> SummerPause:
    return SummerPause.model_validate({"from": DEFAULT_PAUSE_FROM, "to": DEFAULT_PAUSE_TO})


def check_sync_time(value: str | None) -> str | None:
    if value is not None:
        timing.parse_sync_time(value)
    return value


def check_timezone(value: str) -> str:
    timing.parse_timezone(value)
    return value


SYNC_TIME_DESCRIPTION = (
    "Local time (HH:MM, 24-hour, in `timezone`) of the nightly pupils sync in apply mode; null: no "
    "scheduled sync. Each school starts within 15 minutes after it (a fixed delay per school)."
)
SUMMER_PAUSE_DESCRIPTION = (
    "Scheduled syncs in this window only preview (nothing is applied). Default 07-20 to 09-05; null: no pause."
)


class ScheduleIn(Body):
    """The school's nightly sync. The whole schedule is replaced: omitted fields take their defaults."""

    sync_time: str | None = Field(default=None, examples=["02:00"], description=SYNC_TIME_DESCRIPTION)
    timezone: str = Field(default=timing.DEFAULT_TIMEZONE, max_length=64, description="IANA time zone.")
    summer_pause: SummerPause | None = Field(default_factory=default_pause, description=SUMMER_PAUSE_DESCRIPTION)

    _sync_time = field_validator("sync_time")(check_sync_time)
    _timezone = field_validator("timezone")(check_timezone)


class ScheduledRun(BaseModel):
    """A run of the schedule: the school's local day, its mode and when it starts (UTC, jitter included)."""

    day: date
    mode: Literal["apply", "preview"]
    at: datetime


class LastScheduledJob(BaseModel):
    id: uuid.UUID
    mode: str | None
    status: str
    created_at: datetime


class ScheduleOut(BaseModel):
    """The school's schedule, its next run and the job of its last scheduled run."""

    sync_time: str | None
    timezone: str
    summer_pause: SummerPause | None
    next_run: ScheduledRun | None = Field(description="null when no sync_time is set.")
    last_job: LastScheduledJob | None
