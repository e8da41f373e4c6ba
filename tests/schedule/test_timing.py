"""When scheduled syncs are due: a controllable clock (``now`` is an argument), time zones with daylight
saving changes, once per local day, the catch-up window, jitter bounds and the summer pause."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.schedule import timing
from app.schedule.timing import Schedule, ScheduledSchool, due, due_schools, jitter, next_run

LONDON = ZoneInfo("Europe/London")
SCHOOL = uuid.UUID(int=1)
SUMMER = ((7, 20), (9, 5))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def at(hhmm: str, tz: str = "Europe/London", pause: tuple[timing.MonthDay, timing.MonthDay] | None = None) -> Schedule:
    return Schedule(timing.parse_sync_time(hhmm), ZoneInfo(tz), pause)


def school(schedule: Schedule, last: date | None = None, sid: uuid.UUID = SCHOOL) -> ScheduledSchool:
    return ScheduledSchool(sid, schedule, last)


@pytest.mark.parametrize(
    ("now", "schedule", "last", "expected"),
    [
        # Winter: London is UTC.
        pytest.param(utc(2026, 1, 15, 1, 59), at("02:00"), None, None, id="a-minute-early"),
        pytest.param(utc(2026, 1, 15, 2, 0), at("02:00"), None, date(2026, 1, 15), id="on-time"),
        pytest.param(utc(2026, 1, 15, 2, 0), at("02:00"), date(2026, 1, 15), None, id="already-ran-today"),
        pytest.param(utc(2026, 1, 15, 2, 0), at("02:00"), date(2026, 1, 14), date(2026, 1, 15), id="ran-yesterday"),
        pytest.param(utc(2026, 1, 15, 7, 59), at("02:00"), None, date(2026, 1, 15), id="catch-up-within-6h"),
        pytest.param(utc(2026, 1, 15, 8, 0), at("02:00"), None, None, id="too-late-to-catch-up"),
        # Summer: London is UTC+1, so 02:00 local is 01:00 UTC.
        pytest.param(utc(2026, 6, 15, 0, 59), at("02:00"), None, None, id="bst-early"),
        pytest.param(utc(2026, 6, 15, 1, 0), at("02:00"), None, date(2026, 6, 15), id="bst-on-time"),
        # Spring forward (29 March 2026, 01:00 GMT -> 02:00 BST): 02:00 exists (= 01:00 UTC) ...
        pytest.param(utc(2026, 3, 29, 1, 0), at("02:00"), None, date(2026, 3, 29), id="spring-forward-0200"),
        pytest.param(utc(2026, 3, 29, 0, 59), at("02:00"), None, None, id="spring-forward-0200-early"),
        # ... 01:30 does not: it runs at 01:30 GMT (02:30 BST), once.
        pytest.param(utc(2026, 3, 29, 1, 29), at("01:30"), None, None, id="spring-forward-gap-early"),
        pytest.param(utc(2026, 3, 29, 1, 30), at("01:30"), None, date(2026, 3, 29), id="spring-forward-gap"),
        # Fall back (25 October 2026, 02:00 BST -> 01:00 GMT): 01:30 happens twice; the first counts.
        pytest.param(utc(2026, 10, 25, 0, 30), at("01:30"), None, date(2026, 10, 25), id="fall-back-first"),
        pytest.param(utc(2026, 10, 25, 1, 30), at("01:30"), date(2026, 10, 25), None, id="fall-back-not-twice"),
        # Another zone: New York 02:00 EST is 07:00 UTC.
        pytest.param(utc(2026, 1, 15, 6, 59), at("02:00", "America/New_York"), None, None, id="new-york-early"),
        pytest.param(utc(2026, 1, 15, 7, 0), at("02:00", "America/New_York"), None, date(2026, 1, 15), id="new-york"),
        # Late evening times: the local day, not the UTC day, counts (Sydney is UTC+11 in January).
        pytest.param(
            utc(2026, 1, 15, 12, 30), at("23:30", "Australia/Sydney"), None, date(2026, 1, 15), id="sydney-late"
        ),
        # Yesterday's late run, still in its catch-up window after local midnight.
        pytest.param(utc(2026, 1, 16, 0, 30), at("23:45"), None, date(2026, 1, 15), id="yesterday-catch-up"),
        pytest.param(utc(2026, 1, 16, 0, 30), at("23:45"), date(2026, 1, 15), None, id="yesterday-done"),
    ],
)
def test_due(now: datetime, schedule: Schedule, last: date | None, expected: date | None) -> None:
    found = due(now, school(schedule, last), max_jitter_s=0)
    assert (found.slot if found else None) == expected
    if found:
        assert found.mode == "apply" and found.at <= now


def test_dst_days_run_exactly_once_minute_by_minute() -> None:
    """Drive a clock minute by minute through both change days: one run each local day, none skipped."""
    for sync_time in ("00:30", "01:00", "01:30", "02:00", "02:30"):
        schedule = at(sync_time)
        for start in (utc(2026, 3, 27, 12), utc(2026, 10, 23, 12)):
            last: date | None = None
            runs: list[date] = []
            now = start
            while now < start + timedelta(days=4):
                found = due(now, school(schedule, last), max_jitter_s=0)
                if found:
                    runs.append(found.slot)
                    last = found.slot
                now += timedelta(minutes=1)
            first = start.date() + timedelta(days=1)
            assert runs == [first + timedelta(days=n) for n in range(len(runs))], (sync_time, runs)
            assert len(runs) in (3, 4), (sync_time, runs)


@pytest.mark.parametrize(
    ("day", "pause", "mode"),
    [
        pytest.param(date(2026, 7, 19), SUMMER, "apply", id="day-before"),
        pytest.param(date(2026, 7, 20), SUMMER, "preview", id="first-day"),
        pytest.param(date(2026, 8, 15), SUMMER, "preview", id="august"),
        pytest.param(date(2026, 9, 5), SUMMER, "preview", id="last-day"),
        pytest.param(date(2026, 9, 6), SUMMER, "apply", id="day-after"),
        pytest.param(date(2026, 8, 15), None, "apply", id="no-pause"),
        pytest.param(date(2026, 12, 31), ((12, 20), (1, 5)), "preview", id="wrapping-december"),
        pytest.param(date(2027, 1, 5), ((12, 20), (1, 5)), "preview", id="wrapping-january"),
        pytest.param(date(2027, 1, 6), ((12, 20), (1, 5)), "apply", id="wrapping-after"),
    ],
)
def test_summer_pause_only_previews(
    day: date, pause: tuple[timing.MonthDay, timing.MonthDay] | None, mode: str
) -> None:
    now = datetime.combine(day, time(3, 0), tzinfo=LONDON)
    found = due(now, school(at("02:00", pause=pause)), max_jitter_s=0)
    assert found is not None and found.mode == mode and found.slot == day


def test_jitter_is_fixed_per_school_and_bounded() -> None:
    ids = [uuid.UUID(int=n * 7919 + 13) for n in range(2000)]
    delays = [jitter(i, 900) for i in ids]
    assert all(timedelta(0) <= d <= timedelta(seconds=900) for d in delays)
    assert [jitter(i, 900) for i in ids[:50]] == delays[:50]  # deterministic
    # Spread: 2000 schools use most of the 15 minutes, and no minute holds a crowd.
    minutes = [int(d.total_seconds() // 60) for d in delays]
    assert set(minutes) == set(range(15)) | ({15} & set(minutes))
    assert max(minutes.count(m) for m in range(15)) < 2000 / 15 * 1.5
    assert jitter(ids[0], 0) == timedelta(0)


def test_a_school_runs_after_its_own_jitter() -> None:
    sid = uuid.UUID("7b1ad0a3-8c1e-4f6e-9f51-2f8a2b4b8c11")
    delay = jitter(sid, 900)
    start = utc(2026, 1, 15, 2, 0) + delay
    s = school(at("02:00"), sid=sid)
    assert due(start - timedelta(seconds=1), s) is None
    found = due(start, s)
    assert found is not None and found.at == start


def test_due_schools_500_at_0200_are_spread() -> None:
    schools = [school(at("02:00"), sid=uuid.uuid4()) for _ in range(500)]
    first_minute = due_schools(utc(2026, 1, 15, 2, 0, 59), schools)
    everyone = due_schools(utc(2026, 1, 15, 2, 15), schools)
    assert len(everyone) == 500 and len(first_minute) < 100
    assert [d.at for d in everyone] == sorted(d.at for d in everyone)
    assert due_schools(utc(2026, 1, 15, 1, 59), schools) == []


def test_next_run() -> None:
    s = school(at("02:00", pause=SUMMER), last=date(2026, 1, 15))
    upcoming = next_run(utc(2026, 1, 15, 12, 0), s, max_jitter_s=0)
    assert upcoming is not None and (upcoming.slot, upcoming.mode, upcoming.at) == (
        date(2026, 1, 16),
        "apply",
        utc(2026, 1, 16, 2, 0),
    )
    summer = next_run(utc(2026, 7, 25, 12, 0), school(at("02:00", pause=SUMMER)), max_jitter_s=0)
    assert summer is not None and summer.mode == "preview"


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due(datetime(2026, 1, 15, 2, 0), school(at("02:00")))


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, None),
        ({"sync_time": None}, None),
        ({"sync_time": "02:00"}, Schedule(time(2, 0), LONDON)),
        (
            {"sync_time": "23:15", "timezone": "Europe/Paris", "summer_pause": {"from": "07-20", "to": "09-05"}},
            Schedule(time(23, 15), ZoneInfo("Europe/Paris"), SUMMER),
        ),
        ({"sync_time": "25:00"}, None),
        ({"sync_time": "02:00", "timezone": "Nowhere/Town"}, None),
    ],
)
def test_schedule_from_settings(settings: dict[str, object], expected: Schedule | None) -> None:
    assert Schedule.from_settings(settings) == expected
