"""When scheduled syncs run. Pure: the clock is an argument (``now``), never read here.

A school with a ``sync_time`` ("02:00") gets one scheduled pupils sync per *local* day (its
``timezone``, Europe/London by default). The day's run becomes due at that local time plus a
per-school jitter (:func:`jitter`: 0 to ``max_jitter_s`` seconds, fixed for a school, derived from its
id) so 500 schools scheduled at 02:00 are spread over the next quarter of an hour instead of
starting in the same second. It stays due for :data:`CATCH_UP` (workers down at 02:00 and back at
04:00 still sync that night; a run is never started in the middle of the next school day), and a
day's run is made once: ``last_slot`` is the local day of the school's last scheduled run.

Local times are turned into UTC instants with :mod:`zoneinfo`, so daylight saving changes behave:
on the spring-forward day a time that does not exist (01:30 in London) runs an hour later by the
clock (02:30 BST, the same instant as 01:30 GMT); on the fall-back day an ambiguous time runs at its
first occurrence, and only once. All comparisons are done in UTC.

During the ``summer pause`` (a "MM-DD" to "MM-DD" window, inclusive, that may wrap the new year) the
day's run is a ``preview`` instead of an ``apply``: the school sees what would change, nothing is
applied without review.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Mode = Literal["apply", "preview"]

DEFAULT_TIMEZONE = "Europe/London"
#: Largest per-school delay after the school's sync time (seconds).
DEFAULT_MAX_JITTER_S = 900
#: How long after its start a day's run may still be started (if it could not start on time).
CATCH_UP = timedelta(hours=6)

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MMDD = re.compile(r"^(\d{2})-(\d{2})$")

MonthDay = tuple[int, int]


def parse_sync_time(value: str) -> time:
    """``"HH:MM"`` (24-hour) as a time; ValueError otherwise."""
    m = _HHMM.match(value)
    if m is None:
        raise ValueError(f"{value!r} is not a time of day as HH:MM (00:00 to 23:59)")
    return time(int(m.group(1)), int(m.group(2)))


def parse_month_day(value: str) -> MonthDay:
    """``"MM-DD"`` as (month, day); ValueError when it is not a day of the year (02-29 is allowed)."""
    m = _MMDD.match(value)
    if m is None:
        raise ValueError(f"{value!r} is not a day of the year as MM-DD")
    month, day = int(m.group(1)), int(m.group(2))
    try:
        date(2000, month, day)  # a leap year: every MM-DD that exists in some year
    except ValueError:
        raise ValueError(f"{value!r} is not a day of the year as MM-DD") from None
    return month, day


def parse_timezone(value: str) -> ZoneInfo:
    """An IANA time zone ("Europe/London"); ValueError when unknown."""
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known IANA time zone (e.g. Europe/London)") from None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A school's daily sync: local time, time zone and optional pause window (inclusive)."""

    sync_time: time
    timezone: ZoneInfo
    pause: tuple[MonthDay, MonthDay] | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Schedule | None:
        """The schedule in a school's settings, or None when it has no (valid) ``sync_time``."""
        raw = settings.get("sync_time")
        if not raw:
            return None
        try:
            pause_raw = settings.get("summer_pause")
            pause = (
                (parse_month_day(pause_raw["from"]), parse_month_day(pause_raw["to"]))
                if isinstance(pause_raw, Mapping)
                else None
            )
            return cls(
                parse_sync_time(str(raw)), parse_timezone(str(settings.get("timezone") or DEFAULT_TIMEZONE)), pause
            )
        except (ValueError, KeyError, TypeError):
            return None


def in_pause(day: date, pause: tuple[MonthDay, MonthDay] | None) -> bool:
    """Whether ``day`` falls in the pause window (inclusive; a window may wrap the new year)."""
    if pause is None:
        return False
    start, end = pause
    md = (day.month, day.day)
    if start <= end:
        return start <= md <= end
    return md >= start or md <= end


def jitter(school_id: uuid.UUID, max_jitter_s: int = DEFAULT_MAX_JITTER_S) -> timedelta:
    """The school's fixed delay after its sync time: 0..max_jitter_s seconds, from a hash of its id."""
    if max_jitter_s <= 0:
        return timedelta(0)
    digest = hashlib.sha256(b"misync-schedule:" + school_id.bytes).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % (max_jitter_s + 1))


def slot_start(day: date, schedule: Schedule, school_id: uuid.UUID, max_jitter_s: int) -> datetime:
    """When the run of local ``day`` becomes due, in UTC."""
    local = datetime.combine(day, schedule.sync_time, tzinfo=schedule.timezone)
    return local.astimezone(UTC) + jitter(school_id, max_jitter_s)


@dataclass(frozen=True, slots=True)
class ScheduledSchool:
    """What the scheduler knows of a school: its schedule and the local day of its last scheduled run."""

    id: uuid.UUID
    schedule: Schedule
    last_slot: date | None = None


@dataclass(frozen=True, slots=True)
class Due:
    """A scheduled run: the school, the local day it belongs to, its mode and when it became due (UTC)."""

    school_id: uuid.UUID
    slot: date
    mode: Mode
    at: datetime


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _slots(now: datetime, school: ScheduledSchool, max_jitter_s: int, days: range) -> Iterable[Due]:
    today = now.astimezone(school.schedule.timezone).date()
    for offset in days:
        day = today + timedelta(days=offset)
        if school.last_slot is not None and day <= school.last_slot:
            continue
        mode: Mode = "preview" if in_pause(day, school.schedule.pause) else "apply"
        yield Due(school.id, day, mode, slot_start(day, school.schedule, school.id, max_jitter_s))


def due(
    now: datetime,
    school: ScheduledSchool,
    *,
    max_jitter_s: int = DEFAULT_MAX_JITTER_S,
    catch_up: timedelta = CATCH_UP,
) -> Due | None:
    """The school's run due at ``now`` (the latest day whose window is open and not yet run), or None."""
    now = _aware(now)
    open_now = [d for d in _slots(now, school, max_jitter_s, range(-1, 1)) if d.at <= now < d.at + catch_up]
    return max(open_now, key=lambda d: d.slot) if open_now else None


def due_schools(
    now: datetime,
    schools: Iterable[ScheduledSchool],
    *,
    max_jitter_s: int = DEFAULT_MAX_JITTER_S,
    catch_up: timedelta = CATCH_UP,
) -> list[Due]:
    """Every school's run due at ``now``, earliest first. Pure: call it with any clock."""
    found = (due(now, s, max_jitter_s=max_jitter_s, catch_up=catch_up) for s in schools)
    return sorted((d for d in found if d is not None), key=lambda d: (d.at, str(d.school_id)))


def next_run(
    now: datetime,
    school: ScheduledSchool,
    *,
    max_jitter_s: int = DEFAULT_MAX_JITTER_S,
    catch_up: timedelta = CATCH_UP,
) -> Due | None:
    """The school's next run not yet made: one due now, or the next to come (None without a schedule)."""
    now = _aware(now)
    for d in _slots(now, school, max_jitter_s, range(-1, 3)):
        if now < d.at + catch_up:
            return d
    return None
