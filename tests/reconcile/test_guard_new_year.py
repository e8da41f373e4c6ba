"""The new academic year hold: in apply mode the first plan after the MIS promotes its pupils is held
(kind ``rollover``), because promotion is a decision; previews are not held for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from app.mis.records import MisPupil
from app.reconcile import build_plan
from app.year_groups import ORDER, rank

from .test_guard import GROUPS, School, change_ids, keep, rollover, school


def shift_years(by: int, share: float = 1.0) -> Callable[[School], School]:
    """Move the first ``share`` of the MIS pupils ``by`` year groups (nobody leaves or joins)."""

    def move(s: School) -> School:
        cut = int(len(s.answer) * share)

        def moved(m: MisPupil) -> MisPupil:
            r = rank(m.year_group)
            return m if r is None else replace(m, year_group=ORDER[r + by])

        return School(s.roster, [moved(m) if i < cut else m for i, m in enumerate(s.answer)])

    return move


def then(*steps: Callable[[School], School]) -> Callable[[School], School]:
    def run(s: School) -> School:
        for step in steps:
            s = step(s)
        return s

    return run


def no_year_groups(s: School) -> School:
    return School(s.roster, [replace(m, year_group=None) for m in s.answer])


CASES = [
    # (scenario, expected with hold_new_year=True (apply), expected without (preview))
    pytest.param(rollover, ("rollover", True), ("rollover", False), id="september-rollover"),
    pytest.param(shift_years(1), ("rollover", True), None, id="promotion-only-no-leavers-yet"),
    pytest.param(shift_years(1, 0.6), ("rollover", True), None, id="most-promoted"),
    pytest.param(shift_years(1, 0.5), None, None, id="half-promoted-is-not-most"),
    pytest.param(shift_years(1, 0.02), None, None, id="a-few-corrections"),
    pytest.param(shift_years(2), None, None, id="two-years-is-not-promotion"),
    pytest.param(shift_years(-1), None, None, id="demotion"),
    pytest.param(no_year_groups, None, None, id="mis-without-year-groups"),
    pytest.param(lambda s: s, None, None, id="no-change"),
    pytest.param(keep(0.97), None, None, id="small-churn"),
    pytest.param(lambda s: School(s.roster, []), ("outage", True), ("outage", True), id="outage-wins"),
    pytest.param(
        then(shift_years(1), change_ids(0.5)), ("mis_change", True), ("mis_change", True), id="mis-change-wins"
    ),
    pytest.param(then(shift_years(1), keep(0.7)), ("mass_desync", True), ("mass_desync", True), id="mass-desync-wins"),
]


@pytest.mark.parametrize(("scenario", "apply_mode", "preview_mode"), CASES)
def test_new_year_hold(
    scenario: Callable[[School], School],
    apply_mode: tuple[str, bool] | None,
    preview_mode: tuple[str, bool] | None,
) -> None:
    s = scenario(school())
    for hold, expected in ((True, apply_mode), (False, preview_mode)):
        plan = build_plan(s.roster, s.answer, GROUPS, hold_new_year=hold)
        got = (plan.guard.kind, plan.guard.held) if plan.guard else None
        assert got == expected, (hold, plan.guard)


def test_new_year_reason_and_numbers() -> None:
    s = rollover(school())
    plan = build_plan(s.roster, s.answer, GROUPS, hold_new_year=True)
    assert plan.guard is not None and plan.guard.held
    numbers = plan.guard.numbers
    # Year 10 leaves; Years 7-9 (150 pupils) move up; 50 join.
    assert numbers["promoted"] == 150 and numbers["promoted_share"] == 1.0
    assert "new academic year" in plan.guard.reason and "150 of 150" in plan.guard.reason
    assert "Fore" not in plan.guard.reason


def test_after_promotion_is_applied_nothing_is_held() -> None:
    """Once the promoted year groups are ours too, the next apply is not held again."""
    s = rollover(school())
    promoted = {m.mis_id: m.year_group for m in s.answer}
    roster = [replace(p, year_group=promoted.get(p.mis_id or "", p.year_group)) for p in s.roster]
    plan = build_plan(roster, s.answer, GROUPS, hold_new_year=True)
    assert plan.guard is None or not plan.guard.held


def test_first_import_is_never_held_for_a_new_year() -> None:
    s = shift_years(1)(school())
    assert build_plan([], s.answer, GROUPS, hold_new_year=True).guard is None
