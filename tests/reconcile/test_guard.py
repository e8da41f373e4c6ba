"""The safety guard: outage, MIS change, mass desync held; rollover reported but not held."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import pytest

from app.mis.records import MisPupil
from app.reconcile import RosterPupil, build_plan
from app.reconcile.guard import top_year_groups
from app.year_groups import ORDER, rank

from .builders import linked, mis, upn

YEARS = ("Year 7", "Year 8", "Year 9", "Year 10")
GROUPS = {"g-7a": uuid.UUID(int=0x7A)}


@dataclass
class School:
    roster: list[RosterPupil]
    answer: list[MisPupil]


def school(years: tuple[str, ...] = YEARS, per_year: int = 50) -> School:
    """A synced school: every pupil linked, the MIS answer identical to our roster."""
    roster: list[RosterPupil] = []
    answer: list[MisPupil] = []
    n = 0
    for y, year in enumerate(years):
        for k in range(per_year):
            n += 1
            fields = {
                "dob": date(2012 - y, 1 + k % 12, 1 + k % 28),
                "upn": upn(f"80120{n:07d}"),
                "year": year,
            }
            roster.append(linked(n, f"m{n}", f"Fore{n}", f"Sur{n}", **fields))
            answer.append(mis(f"m{n}", f"Fore{n}", f"Sur{n}", **fields))  # type: ignore[arg-type]
    return School(roster, answer)


def _next_year(year: str | None) -> str | None:
    r = rank(year)
    return None if r is None else ORDER[r + 1]


def rollover(s: School, intake: int = 50, leave: Callable[[MisPupil], bool] | None = None) -> School:
    """September: the top year leaves, everyone else moves up, a new bottom year joins."""
    top = max(s.answer, key=lambda m: rank(m.year_group) or 0).year_group
    leave = leave or (lambda m: m.year_group == top)
    answer = [replace(m, year_group=_next_year(m.year_group)) for m in s.answer if not leave(m)]
    bottom = min((rank(m.year_group) or 0) for m in s.answer)
    answer += [
        mis(f"new{k}", f"Newfore{k}", f"Newsur{k}", dob=date(2013, 1 + k % 12, 1 + k % 28), year=ORDER[bottom])
        for k in range(intake)
    ]
    return School(s.roster, answer)


def keep(share: float) -> Callable[[School], School]:
    """Keep a random ``share`` of the MIS pupils (so leavers come from every year group)."""

    def cut(s: School) -> School:
        chosen = set(random.Random(1).sample(range(len(s.answer)), round(len(s.answer) * share)))
        return School(s.roster, [m for i, m in enumerate(s.answer) if i in chosen])

    return cut


def change_ids(share: float) -> Callable[[School], School]:
    """The MIS renumbers ``share`` of its pupils; UPN, names and DOB stay."""

    def renumber(s: School) -> School:
        cut = int(len(s.answer) * share)
        answer = [replace(m, mis_id=f"x-{m.mis_id}") if i < cut else m for i, m in enumerate(s.answer)]
        return School(s.roster, answer)

    return renumber


CASES = [
    pytest.param(lambda s: s, {}, None, id="no-change"),
    pytest.param(keep(0.97), {}, None, id="small-churn-3pc"),
    pytest.param(lambda s: School(s.roster, []), {}, ("outage", True), id="empty-answer"),
    pytest.param(lambda s: s, {"fetch_complete": False}, ("outage", True), id="incomplete-fetch"),
    pytest.param(lambda s: s, {"group_count": 0}, ("outage", True), id="no-groups"),
    pytest.param(keep(0.05), {}, ("outage", True), id="almost-everyone-gone"),
    pytest.param(keep(0.70), {}, ("mass_desync", True), id="mass-desync-30pc-spread"),
    pytest.param(keep(0.70), {"desync_threshold": 0.5}, None, id="mass-desync-under-custom-threshold"),
    pytest.param(rollover, {}, ("rollover", False), id="rollover-25pc-not-held"),
    pytest.param(lambda s: rollover(s, intake=0), {}, ("mass_desync", True), id="leavers-without-intake"),
    pytest.param(
        lambda s: rollover(s, leave=lambda m: m.year_group == "Year 8"),
        {},
        ("mass_desync", True),
        id="leavers-not-from-top-year",
    ),
    pytest.param(change_ids(0.5), {}, ("mis_change", True), id="mis-change-half-renumbered"),
    pytest.param(change_ids(1.0), {}, ("mis_change", True), id="mis-change-everyone-renumbered"),
    pytest.param(change_ids(0.1), {}, None, id="mis-change-small-not-held"),
]


@pytest.mark.parametrize(("scenario", "options", "expected"), CASES)
def test_guard(
    scenario: Callable[[School], School], options: dict[str, object], expected: tuple[str, bool] | None
) -> None:
    s = scenario(school())
    plan = build_plan(s.roster, s.answer, GROUPS, **options)  # type: ignore[arg-type]
    if expected is None:
        assert plan.guard is None
        return
    assert plan.guard is not None
    assert (plan.guard.kind, plan.guard.held) == expected
    assert plan.guard.numbers["synced_before"] == 200
    # One sentence with numbers and no names.
    assert re.search(r"\d", plan.guard.reason)
    assert "Fore" not in plan.guard.reason and "Sur" not in plan.guard.reason


def test_rollover_under_threshold_is_still_reported() -> None:
    s = rollover(school(years=("Year 7", "Year 8", "Year 9", "Year 10", "Year 11")))
    plan = build_plan(s.roster, s.answer, GROUPS)
    assert plan.guard is not None
    assert (plan.guard.kind, plan.guard.held) == ("rollover", False)
    assert plan.guard.numbers["share"] == 0.2
    assert plan.guard.numbers["new_bottom_year"] == 50
    assert plan.counts["desynced"] == 50 and plan.counts["new"] == 50


def test_sixth_form_rollover_counts_year_11_leavers_as_top() -> None:
    s = school(years=("Year 9", "Year 10", "Year 11", "Year 12", "Year 13"))
    moved = rollover(
        s, leave=lambda m: m.year_group == "Year 13" or (m.year_group == "Year 11" and m.mis_id[-1] in "02468")
    )
    plan = build_plan(moved.roster, moved.answer, GROUPS)
    assert plan.guard is not None
    assert (plan.guard.kind, plan.guard.held) == ("rollover", False)
    assert plan.guard.numbers["top_year_share"] == 1.0


def test_mis_change_relinks_instead_of_desync_and_new() -> None:
    s = change_ids(0.5)(school())
    plan = build_plan(s.roster, s.answer, GROUPS)
    assert plan.counts["desynced"] == 0 and plan.counts["new"] == 0
    assert plan.counts["matched"] == 100 and plan.counts["synced"] == 100
    relinks = [i for i in plan.items if i.tag == "matched"]
    assert all(i.candidates[0].reasons[0].startswith("mis id changed: same UPN") for i in relinks)
    assert plan.guard is not None and plan.guard.numbers["relinked"] == 100


def test_first_import_is_never_held() -> None:
    s = school()
    manual = [replace(p, sync_status="manual", mis_id=None, mis_class_id=None) for p in s.roster]
    assert build_plan(manual, [], GROUPS).guard is None
    assert build_plan([], s.answer, GROUPS).guard is None


def test_already_desynced_pupils_do_not_count() -> None:
    s = school()
    roster = [replace(p, sync_status="desynced") if i < 100 else p for i, p in enumerate(s.roster)]
    answer = s.answer[100:]
    plan = build_plan(roster, answer, GROUPS)
    assert plan.guard is None
    assert plan.counts["desynced"] == 0


@pytest.mark.parametrize(
    ("years", "tops"),
    [
        pytest.param(["Year 7", "Year 11"], {"Year 11"}, id="secondary"),
        pytest.param(["Year 7", "Year 11", "Year 13"], {"Year 11", "Year 13"}, id="sixth-form"),
        pytest.param(["Reception", "Year 6"], {"Year 6"}, id="primary"),
        pytest.param(["Year 6", "Year 13"], {"Year 13"}, id="all-through-year-6-too-far-down"),
        pytest.param([None, "nonsense"], set(), id="no-year-groups"),
    ],
)
def test_top_year_groups(years: list[str | None], tops: set[str]) -> None:
    assert top_year_groups(years) == tops
