"""Plan contents beyond tags: changes, our side (desynced, not_matched), counts, reports, bad input."""

from __future__ import annotations

import gc
from datetime import date

import pytest

from app.reconcile import (
    COUNT_KEYS,
    ChangeValue,
    Decisions,
    PlanItem,
    RosterPupil,
    build_plan,
    count_items,
    target_class,
)

from .builders import CLASS_7A, CLASS_8A, CLASSES, DOB, GROUP_7A, GROUP_8A, bad_upn, linked, mis, ours, pid, upn

U1 = upn("801200005001")
U2 = upn("801200005002")

Changes = dict[str, tuple[ChangeValue, ChangeValue]]


@pytest.mark.parametrize(
    ("pupil", "kwargs", "changes"),
    [
        pytest.param(linked(1, "m1"), {}, {}, id="no-change"),
        pytest.param(
            linked(1, "m1"),
            {"year": "Year 8", "groups": (GROUP_8A,)},
            {"year_group": ("Year 7", "Year 8"), "class_id": (CLASS_7A, CLASS_8A)},
            id="promotion-moves-year-and-class",
        ),
        pytest.param(
            linked(1, "m1"),
            {"forename": "Amie", "legal_surname": "Smith-Jones"},
            {"forename": ("Amy", "Amie"), "legal_surname": (None, "Smith-Jones")},
            id="names",
        ),
        pytest.param(
            linked(1, "m1", "Zoe"),
            {"forename": "Zoë"},
            {"forename": ("Zoe", "Zoë")},
            id="accent-is-a-change-of-spelling",
        ),
        pytest.param(
            linked(1, "m1"),
            {"dob": date(2012, 3, 16), "upn": U1},
            {"date_of_birth": (DOB, date(2012, 3, 16)), "upn": (None, U1)},
            id="dob-and-upn",
        ),
        pytest.param(
            linked(1, "m1", upn=U1, legal_forename="Amelia"),
            {"dob": None, "upn": None, "year": None, "legal_forename": None},
            {},
            id="mis-empty-values-never-erase-ours",
        ),
        pytest.param(
            linked(1, "m1", upn=U1),
            {"upn": bad_upn("801200005002")},
            {},
            id="invalid-mis-upn-never-written",
        ),
        pytest.param(
            linked(1, "m1", upn=U1.lower()),
            {"upn": U1},
            {"upn": (U1.lower(), U1)},
            id="upn-canonical-case",
        ),
        pytest.param(
            linked(1, "m1", class_id=None),
            {},
            {"class_id": (None, CLASS_7A)},
            id="class-when-no-mis-membership-yet",
        ),
        pytest.param(
            linked(1, "m1"),
            {"groups": ("unmapped", GROUP_8A)},
            {"class_id": (CLASS_7A, CLASS_8A)},
            id="class-of-first-set-up-group",
        ),
        pytest.param(linked(1, "m1"), {"groups": ("unmapped",)}, {}, id="no-set-up-group-no-class-change"),
    ],
)
def test_synced_changes(pupil: RosterPupil, kwargs: dict[str, object], changes: Changes) -> None:
    plan = build_plan([pupil], [mis("m1", **kwargs)], CLASSES)  # type: ignore[arg-type]
    (item,) = plan.items
    assert item.tag == "synced"
    assert item.changes == changes
    assert plan.counts["updated"] == (1 if changes else 0)


def test_resynced_changes_include_the_new_class() -> None:
    pupil = linked(1, "m1", status="desynced", year="Year 7")
    plan = build_plan([pupil], [mis("m1", year="Year 9", groups=(GROUP_8A,))], CLASSES)
    (item,) = plan.items
    assert item.tag == "resynced"
    assert item.changes == {"year_group": ("Year 7", "Year 9"), "class_id": (CLASS_7A, CLASS_8A)}


def test_matched_changes_are_relative_to_the_linked_pupil() -> None:
    pupil = ours(1, "Amy", "Smith", upn=U1, year=None)
    plan = build_plan([pupil], [mis("m1", "Amelia", upn=U1, legal_forename="Amelia")], CLASSES)
    (item,) = plan.items
    assert item.tag == "matched"
    assert item.changes == {
        "forename": ("Amy", "Amelia"),
        "legal_forename": (None, "Amelia"),
        "year_group": (None, "Year 7"),
        "class_id": (None, CLASS_7A),
    }


def test_may_match_changes_are_relative_to_the_best_candidate() -> None:
    plan = build_plan([ours(1, "Amy", "Smyth")], [mis("m1")], CLASSES)
    (item,) = plan.items
    assert item.tag == "may_match"
    assert item.changes == {"surname": ("Smyth", "Smith"), "class_id": (None, CLASS_7A)}


def test_new_items_carry_the_mis_record_and_no_changes() -> None:
    record = mis("m1", groups=(GROUP_8A,))
    plan = build_plan([], [record], CLASSES)
    assert plan.items == [PlanItem(tag="new", mis=record, pupil_id=None)]
    assert target_class(record, CLASSES) == CLASS_8A
    assert target_class(mis("m2", groups=()), CLASSES) is None


@pytest.mark.parametrize(
    ("pupil", "tag"),
    [
        pytest.param(linked(1, "gone"), "desynced", id="synced-pupil-missing-is-desynced"),
        pytest.param(linked(1, "gone", status="desynced"), None, id="already-desynced-missing-no-item"),
        pytest.param(ours(1, "Zed", "Zulu"), "not_matched", id="manual-unmatched"),
    ],
)
def test_our_side(pupil: RosterPupil, tag: str | None) -> None:
    plan = build_plan([pupil], [mis("m1", "Other", "Person", dob=date(2010, 1, 1))], CLASSES)
    ours_items = [i for i in plan.items if i.mis is None]
    if tag is None:
        assert ours_items == []
    else:
        assert ours_items == [PlanItem(tag=tag, mis=None, pupil_id=pid(1))]  # type: ignore[arg-type]


def test_desynced_pupil_keeps_class_and_year_group() -> None:
    plan = build_plan([linked(1, "gone"), linked(2, "m2")], [mis("m2")], CLASSES)
    desynced = [i for i in plan.items if i.tag == "desynced"]
    assert desynced == [PlanItem(tag="desynced", mis=None, pupil_id=pid(1))]
    assert desynced[0].changes == {}


def test_candidate_of_a_may_match_is_not_also_not_matched() -> None:
    plan = build_plan([ours(1, "Amy", "Smyth"), ours(2, "Zed", "Zulu")], [mis("m1")], CLASSES)
    assert [(i.tag, i.pupil_id) for i in plan.items] == [("may_match", pid(1)), ("not_matched", pid(2))]


def test_relinked_pupil_is_not_desynced_and_counts_as_matched() -> None:
    plan = build_plan([linked(1, "old", upn=U1)], [mis("new", upn=U1)], CLASSES)
    assert [(i.tag, i.pupil_id) for i in plan.items] == [("matched", pid(1))]
    assert plan.items[0].changes == {}


def test_relink_ambiguous_with_a_manual_pupil_is_may_match_and_desync_stays() -> None:
    roster = [linked(1, "old", upn=U1), ours(2, upn=U1)]
    plan = build_plan(roster, [mis("new", upn=U1)], CLASSES)
    tags = [(i.tag, i.pupil_id) for i in plan.items]
    assert ("desynced", pid(1)) in tags
    (may,) = [i for i in plan.items if i.tag == "may_match"]
    assert {c.pupil_id for c in may.candidates} == {pid(1), pid(2)}
    assert any(r.startswith("mis id changed: ") for c in may.candidates for r in c.reasons)


def test_counts_cover_every_tag_and_updated() -> None:
    roster = [
        linked(1, "m1"),  # synced, no change
        linked(2, "m2", "Ben"),  # synced, promoted (updated)
        linked(3, "m3", "Cat", status="desynced"),  # resynced (updated: year group)
        linked(4, "gone", "Dan"),  # desynced
        ours(5, "Eve", upn=U1),  # matched by UPN (updated: class)
        ours(6, "Fay", "Smyth"),  # may_match for m6
        ours(7, "Gus", "Zulu", dob=date(2009, 9, 9)),  # not_matched
    ]
    answer = [
        mis("m1"),
        mis("m2", "Ben", year="Year 8", groups=(GROUP_8A,)),
        mis("m3", "Cat", year="Year 8", groups=(GROUP_7A,)),
        mis("m5", "Eve", upn=U1),
        mis("m6", "Fay", "Smith"),
        mis("m7", "Hal", "New", dob=date(2012, 1, 1)),  # new
    ]
    plan = build_plan(roster, answer, CLASSES)
    assert plan.counts == {
        "new": 1,
        "matched": 1,
        "may_match": 1,
        "synced": 2,
        "updated": 3,
        "resynced": 1,
        "desynced": 1,
        "not_matched": 1,
    }
    assert set(plan.counts) == set(COUNT_KEYS)
    assert count_items(plan.items) == plan.counts


def test_updated_ignores_may_match_changes() -> None:
    plan = build_plan([ours(1, "Amy", "Smyth")], [mis("m1")], CLASSES)
    assert plan.counts["may_match"] == 1 and plan.counts["updated"] == 0


def test_reports_invalid_and_shared_upns_by_id_only() -> None:
    roster = [ours(1, "Zed", "Zulu", upn=bad_upn("801200005009")), ours(2, "Yan", "Yu", upn=U2)]
    answer = [
        mis("m1", upn=bad_upn("801200005001")),
        mis("m2", "Bo", upn=U1),
        mis("m3", "Cy", upn=U1),
        mis("m4", "Di", upn=None),
    ]
    plan = build_plan(roster, answer, CLASSES)
    assert plan.reports.invalid_upn_mis_ids == ("m1",)
    assert plan.reports.invalid_upn_pupil_ids == (pid(1),)
    assert plan.reports.shared_upn_mis_ids == ("m2", "m3")


def test_items_in_mis_order_then_our_side() -> None:
    roster = [ours(9, "Zed", "Zulu"), linked(8, "gone", "Xi", "Xu")]
    plan = build_plan(roster, [mis("b"), mis("a", "Al")], CLASSES)
    assert [(i.tag, i.mis.mis_id if i.mis else i.pupil_id) for i in plan.items] == [
        ("new", "b"),
        ("new", "a"),
        ("not_matched", pid(9)),
        ("desynced", pid(8)),
    ]


def test_duplicate_mis_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate MIS id"):
        build_plan([], [mis("m1"), mis("m1", "Bo")], CLASSES)


def test_one_mis_id_linked_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="linked to two pupils"):
        build_plan([linked(1, "m1"), linked(2, "m1")], [], CLASSES)


def test_conflicting_confirmations_fall_back_to_evidence() -> None:
    decisions = Decisions(confirmed=frozenset({("m1", pid(1)), ("m1", pid(2))}))
    plan = build_plan([ours(1, "Zed", "Zulu"), ours(2)], [mis("m1")], CLASSES, decisions)
    assert (plan.items[0].tag, plan.items[0].pupil_id) == ("matched", pid(2))
    assert plan.items[0].candidates[0].reasons != ["confirmed by coordinator"]


def test_inputs_may_be_any_iterable() -> None:
    plan = build_plan(iter([linked(1, "m1")]), (m for m in [mis("m1")]), CLASSES)
    assert plan.counts["synced"] == 1


def test_plan_is_deterministic() -> None:
    roster = [ours(n, "Amy", "Smith") for n in range(1, 6)]
    answer = [mis("m1"), mis("m2", "Amy", "Smyth")]
    first = build_plan(roster, answer, CLASSES)
    assert build_plan(list(reversed(roster)), answer, CLASSES).items[0] == first.items[0]
    assert first.items[0].candidates == build_plan(roster, answer, CLASSES).items[0].candidates


def test_garbage_collector_is_restored() -> None:
    assert gc.isenabled()
    build_plan([linked(1, "m1")], [mis("m1")], CLASSES)
    assert gc.isenabled()
    with pytest.raises(ValueError):
        build_plan([], [mis("m1"), mis("m1")], CLASSES)
    assert gc.isenabled()
    gc.disable()
    try:
        build_plan([], [mis("m1")], CLASSES)
        assert not gc.isenabled()
    finally:
        gc.enable()
