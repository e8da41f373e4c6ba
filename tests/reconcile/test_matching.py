"""Matching rules (DOMAIN.md "Matching"), one table row per rule or edge.

Each row gives our roster, the MIS answer and, per MIS id, the expected tag, the expected
``pupil_id`` (our pupil number, or None) and, when it matters, the candidate numbers in order and a
phrase the first candidate's reasons must contain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from app.mis.records import MisPupil
from app.reconcile import Decisions, Plan, RosterPupil, build_plan

from .builders import CLASSES, DOB, bad_upn, linked, mis, ours, pid, upn

U1 = upn("801200005001")
U2 = upn("801200005002")


@dataclass
class Case:
    roster: list[RosterPupil]
    answer: list[MisPupil]
    #: mis_id -> (tag, our pupil number or None)
    expect: dict[str, tuple[str, int | None]]
    #: mis_id -> our pupil numbers listed as candidates, best first
    candidates: dict[str, list[int]] = field(default_factory=dict)
    #: mis_id -> a phrase the first candidate's reasons contain
    reason: dict[str, str] = field(default_factory=dict)
    decisions: Decisions = field(default_factory=Decisions)
    #: our pupil numbers expected to get a not_matched item
    not_matched: list[int] = field(default_factory=list)


CASES = [
    # Rule 1: same MIS id.
    pytest.param(
        Case([linked(1, "m1")], [mis("m1")], {"m1": ("synced", 1)}, reason={"m1": "same MIS id"}),
        id="mis-id-synced",
    ),
    pytest.param(
        Case([linked(1, "m1", status="desynced")], [mis("m1")], {"m1": ("resynced", 1)}),
        id="mis-id-resynced",
    ),
    pytest.param(
        Case([linked(1, "m1", "Completely", "Different", dob=None)], [mis("m1")], {"m1": ("synced", 1)}),
        id="mis-id-wins-over-names",
    ),
    # Rule 2: strong evidence among unlinked pupils.
    pytest.param(
        Case(
            [ours(1, "Amelia", "Smythe", dob=date(2011, 1, 1), upn=U1)],
            [mis("m1", upn=U1)],
            {"m1": ("matched", 1)},
            reason={"m1": "same UPN"},
        ),
        id="valid-upn",
    ),
    pytest.param(
        Case(
            [ours(1, "Amelia", "Smythe", dob=None, upn=U1.lower())],
            [mis("m1", upn=U1)],
            {"m1": ("matched", 1)},
            reason={"m1": "same UPN"},
        ),
        id="valid-upn-lowercase-on-our-side",
    ),
    pytest.param(
        Case(
            [ours(1, "Alexander", "Smith")],
            [mis("m1", "Alex", "Smith", legal_forename="Alexander", legal_surname="Smith")],
            {"m1": ("matched", 1)},
            reason={"m1": "same legal name and date of birth"},
        ),
        id="legal-name-dob",
    ),
    pytest.param(
        Case(
            [ours(1, "Alex", "Smith")],
            [mis("m1", "Alex", "Smith", legal_forename="Alexander")],
            {"m1": ("matched", 1)},
            reason={"m1": "same preferred name and date of birth"},
        ),
        id="preferred-name-dob",
    ),
    pytest.param(
        Case(
            [ours(1, "Alex", "Smith", legal_forename="Alexander", legal_surname="Smith")],
            [mis("m1", "Alexander", "Smith")],
            {"m1": ("matched", 1)},
            reason={"m1": "legal name"},
        ),
        id="our-legal-name-vs-mis-preferred",
    ),
    pytest.param(
        Case(
            [ours(1, "Amy", "Smith", upn=U1)],
            [mis("m1", upn=U1)],
            {"m1": ("matched", 1)},
            reason={"m1": "same UPN"},
        ),
        id="upn-and-name-dob-together",
    ),
    pytest.param(
        Case([ours(1, dob=date(2012, 3, 16))], [mis("m1")], {"m1": ("new", None)}, not_matched=[1]),
        id="same-name-other-dob-is-not-evidence",
    ),
    # Normalisation: accents, apostrophes, hyphens, case, spaces.
    pytest.param(Case([ours(1, "Zoe")], [mis("m1", "Zoë")], {"m1": ("matched", 1)}), id="zoe-diaeresis"),
    pytest.param(
        Case([ours(1, "Sean", "OBrien")], [mis("m1", "Seán", "O'Brien")], {"m1": ("matched", 1)}),
        id="obrien-apostrophe-vs-none",
    ),
    pytest.param(
        Case([ours(1, "Sean", "O\u2019Brien")], [mis("m1", "Sean", "O'Brien")], {"m1": ("matched", 1)}),
        id="obrien-curly-vs-straight",
    ),
    pytest.param(
        Case([ours(1, "Ann", "Smith Jones")], [mis("m1", "Ann", "Smith-Jones")], {"m1": ("matched", 1)}),
        id="smith-jones-hyphen-vs-space",
    ),
    pytest.param(
        Case([ours(1, "ANN", " smith\u2013jones ")], [mis("m1", "Ann", "Smith-Jones")], {"m1": ("matched", 1)}),
        id="case-dash-and-spaces",
    ),
    # Rule 3: weak evidence -> may_match with every candidate.
    pytest.param(
        Case(
            [ours(1, "Amy", "Smyth")],
            [mis("m1")],
            {"m1": ("may_match", 1)},
            candidates={"m1": [1]},
            reason={"m1": "close name: surname 1 letter different"},
        ),
        id="fuzzy-surname-dob",
    ),
    pytest.param(
        Case(
            [ours(1, "Aimy", "Smith")],
            [mis("m1")],
            {"m1": ("may_match", 1)},
            reason={"m1": "forename 1 letter different"},
        ),
        id="fuzzy-forename-dob",
    ),
    pytest.param(
        Case(
            [ours(1, "Mohammed", "Khan")],
            [mis("m1", "Muhammad", "Khan")],
            {"m1": ("may_match", 1)},
            reason={"m1": "forename 2 letters different"},
        ),
        id="fuzzy-two-letters-in-a-long-name",
    ),
    pytest.param(
        Case(
            [ours(1, "Alex", "Smith")],
            [mis("m1", "Alexander", "Smith")],
            {"m1": ("may_match", 1)},
            reason={"m1": "forename a short form"},
        ),
        id="preferred-short-form-vs-legal",
    ),
    pytest.param(
        Case(
            [ours(1, "Ann", "Jones")],
            [mis("m1", "Ann", "Smith-Jones")],
            {"m1": ("may_match", 1)},
            reason={"m1": "double-barrelled"},
        ),
        id="part-of-double-barrelled-surname",
    ),
    pytest.param(
        Case(
            [ours(1, "Smith", "Amy")],
            [mis("m1", "Amy", "Smith")],
            {"m1": ("may_match", 1)},
            reason={"m1": "forename and surname swapped"},
        ),
        id="swapped-names",
    ),
    pytest.param(
        Case(
            [ours(1, dob=date(2012, 5, 3))],
            [mis("m1", dob=date(2012, 3, 5))],
            {"m1": ("may_match", 1)},
            reason={"m1": "day and month of birth swapped"},
        ),
        id="day-month-swap",
    ),
    pytest.param(
        Case([ours(1, dob=date(2012, 3, 3))], [mis("m1", dob=date(2012, 3, 3))], {"m1": ("matched", 1)}),
        id="day-equals-month-is-just-same-dob",
    ),
    pytest.param(
        Case(
            [ours(1, dob=date(2012, 5, 3))],
            [mis("m1", "Amy", "Smyth", dob=date(2012, 3, 5))],
            {"m1": ("new", None)},
            not_matched=[1],
        ),
        id="day-month-swap-needs-same-name",
    ),
    pytest.param(
        Case(
            [ours(1)],
            [mis("m1", dob=None)],
            {"m1": ("may_match", 1)},
            reason={"m1": "same name and year group, no date of birth"},
        ),
        id="name-year-no-dob-in-mis",
    ),
    pytest.param(
        Case(
            [ours(1, dob=None)],
            [mis("m1")],
            {"m1": ("may_match", 1)},
            reason={"m1": "same name and year group, no date of birth"},
        ),
        id="name-year-no-dob-on-our-side",
    ),
    pytest.param(
        Case([ours(1, dob=None, year="Year 8")], [mis("m1")], {"m1": ("new", None)}, not_matched=[1]),
        id="name-no-dob-other-year-is-new",
    ),
    pytest.param(
        Case([ours(1, "Amy", "Smyth", dob=None)], [mis("m1")], {"m1": ("new", None)}, not_matched=[1]),
        id="close-name-without-dob-is-not-evidence",
    ),
    # Twins: same surname and DOB, different forename: never cross-matched.
    pytest.param(
        Case(
            [ours(1, "Amy"), ours(2, "Ben")],
            [mis("m1", "Amy"), mis("m2", "Ben")],
            {"m1": ("matched", 1), "m2": ("matched", 2)},
            candidates={"m1": [1], "m2": [2]},
        ),
        id="twins-both-on-both-sides",
    ),
    pytest.param(
        Case([ours(2, "Ben")], [mis("m1", "Amy")], {"m1": ("new", None)}, not_matched=[2]),
        id="twin-never-proposed-for-the-other",
    ),
    pytest.param(
        Case(
            [ours(1, "Amy"), ours(2, "Benn")],
            [mis("m1", "Amy"), mis("m2", "Ben")],
            {"m1": ("matched", 1), "m2": ("may_match", 2)},
            candidates={"m2": [2]},
        ),
        id="twin-with-a-typo-only-their-own-candidate",
    ),
    pytest.param(
        Case(
            [ours(1, "Amy"), ours(2, "Ben")],
            [mis("m2", "Ben")],
            {"m2": ("matched", 2)},
            candidates={"m2": [2]},
            not_matched=[1],
        ),
        id="one-twin-in-mis",
    ),
    pytest.param(
        Case(
            [linked(1, "m-jon", "Jon"), ours(2, "Jon")],
            [mis("m-jon", "Jon"), mis("m-jan", "Jan")],
            {"m-jon": ("synced", 1), "m-jan": ("new", None)},
            not_matched=[2],
        ),
        id="twin-with-a-close-name-not-offered-the-other-twins-double",
    ),
    pytest.param(
        Case(
            [ours(2, "Jon")],
            [mis("m-jan", "Jan")],
            {"m-jan": ("may_match", 2)},
            reason={"m-jan": "forename 1 letter different"},
        ),
        id="close-forename-without-a-visible-twin-is-only-proposed",
    ),
    # Rule 6: invalid UPNs ignored for matching.
    pytest.param(
        Case(
            [ours(1, "Bob", "Jones", upn=bad_upn("801200005001"))],
            [mis("m1", upn=bad_upn("801200005001"))],
            {"m1": ("new", None)},
            not_matched=[1],
        ),
        id="invalid-upn-ignored",
    ),
    pytest.param(
        Case(
            [ours(1, upn=bad_upn("801200005001"))],
            [mis("m1", upn=bad_upn("801200005001"))],
            {"m1": ("matched", 1)},
            reason={"m1": "same preferred name and date of birth"},
        ),
        id="invalid-upn-name-dob-still-counts",
    ),
    # Rule 4: each pupil matched at most once; ties are may_match with all candidates.
    pytest.param(
        Case(
            [ours(1)],
            [mis("m1"), mis("m2")],
            {"m1": ("may_match", 1), "m2": ("may_match", 1)},
            candidates={"m1": [1], "m2": [1]},
        ),
        id="two-mis-pupils-claim-one-pupil-equally",
    ),
    pytest.param(
        Case(
            [ours(1, upn=U1)],
            [mis("m1", upn=U1), mis("m2")],
            {"m1": ("matched", 1), "m2": ("new", None)},
        ),
        id="stronger-claim-wins-weaker-becomes-new",
    ),
    pytest.param(
        Case(
            [ours(1), ours(2)],
            [mis("m1")],
            {"m1": ("may_match", 1)},
            candidates={"m1": [1, 2]},
        ),
        id="two-identical-pupils-of-ours-tie",
    ),
    pytest.param(
        Case(
            [ours(1, "Bob", "Jones", upn=U1), ours(2)],
            [mis("m1", upn=U1)],
            {"m1": ("may_match", 1)},
            candidates={"m1": [1, 2]},
            reason={"m1": "same UPN"},
        ),
        id="upn-and-name-point-to-different-pupils",
    ),
    pytest.param(
        Case(
            [ours(1, "Amy", "Smyth"), ours(2, "Amy", "Smithe")],
            [mis("m1")],
            {"m1": ("may_match", 2)},
            # "Smithe" is one letter in six off, "Smyth" one in five: the closer one first.
            candidates={"m1": [2, 1]},
        ),
        id="several-close-names-all-listed",
    ),
    pytest.param(
        Case(
            [ours(1, upn=U1), ours(2, "Amy", "Smyth")],
            [mis("m1", upn=U1)],
            {"m1": ("matched", 1)},
            not_matched=[2],
        ),
        id="strong-single-match-ignores-weak-others",
    ),
    # Rule 5: remembered decisions.
    pytest.param(
        Case(
            [ours(1, "Completely", "Different", dob=None)],
            [mis("m1")],
            {"m1": ("matched", 1)},
            reason={"m1": "confirmed by coordinator"},
            decisions=Decisions(confirmed=frozenset({("m1", pid(1))})),
        ),
        id="confirmed-pair-matched",
    ),
    pytest.param(
        Case(
            [ours(1, "Amy", "Smyth"), ours(2)],
            [mis("m1"), mis("m2")],
            {"m1": ("matched", 1), "m2": ("matched", 2)},
            decisions=Decisions(confirmed=frozenset({("m1", pid(1))})),
        ),
        id="confirmed-pair-takes-pupil-before-evidence",
    ),
    pytest.param(
        Case(
            [linked(1, "m9", "Completely", "Different")],
            [mis("m1")],
            {"m1": ("new", None)},
            decisions=Decisions(confirmed=frozenset({("m1", pid(1))})),
        ),
        id="confirmed-pair-ignored-once-pupil-is-linked",
    ),
    pytest.param(
        Case(
            [ours(1)],
            [mis("m1")],
            {"m1": ("new", None)},
            decisions=Decisions(rejected=frozenset({("m1", pid(1))})),
            not_matched=[1],
        ),
        id="rejected-strong-pair-becomes-new",
    ),
    pytest.param(
        Case(
            [ours(1, "Amy", "Smyth")],
            [mis("m1")],
            {"m1": ("new", None)},
            decisions=Decisions(rejected=frozenset({("m1", pid(1))})),
            not_matched=[1],
        ),
        id="rejected-weak-pair-becomes-new",
    ),
    pytest.param(
        Case(
            [ours(1), ours(2)],
            [mis("m1")],
            {"m1": ("matched", 2)},
            decisions=Decisions(rejected=frozenset({("m1", pid(1))})),
            not_matched=[1],
        ),
        id="rejecting-one-of-a-tie-leaves-the-other",
    ),
    pytest.param(
        Case(
            [ours(1)],
            [mis("m1")],
            {"m1": ("new", None)},
            decisions=Decisions(confirmed=frozenset({("m1", pid(1))}), rejected=frozenset({("m1", pid(1))})),
            not_matched=[1],
        ),
        id="confirmed-and-rejected-counts-as-rejected",
    ),
    # Rule 8: an MIS change re-links instead of desync + new.
    pytest.param(
        Case(
            [linked(1, "old-1", upn=U1)],
            [mis("new-1", upn=U1)],
            {"new-1": ("matched", 1)},
            reason={"new-1": "mis id changed: same UPN"},
        ),
        id="mis-id-changed-same-upn",
    ),
    pytest.param(
        Case(
            [linked(1, "old-1")],
            [mis("new-1")],
            {"new-1": ("matched", 1)},
            reason={"new-1": "mis id changed: same preferred name and date of birth"},
        ),
        id="mis-id-changed-same-name-dob",
    ),
    pytest.param(
        Case(
            [linked(1, "m1", upn=U1)],
            [mis("m1", upn=U1), mis("m2", upn=U1)],
            {"m1": ("synced", 1), "m2": ("new", None)},
        ),
        id="linked-pupil-still-present-is-not-relinked",
    ),
]


def _by_mis(plan: Plan) -> dict[str, tuple[str, object]]:
    return {i.mis.mis_id: (i.tag, i.pupil_id) for i in plan.items if i.mis is not None}


@pytest.mark.parametrize("case", CASES)
def test_matching_rules(case: Case) -> None:
    plan = build_plan(case.roster, case.answer, CLASSES, case.decisions)

    expected = {m: (tag, None if n is None else pid(n)) for m, (tag, n) in case.expect.items()}
    assert _by_mis(plan) == expected
    items = {i.mis.mis_id: i for i in plan.items if i.mis is not None}
    for mis_id, numbers in case.candidates.items():
        assert [c.pupil_id for c in items[mis_id].candidates] == [pid(n) for n in numbers]
    for mis_id, phrase in case.reason.items():
        reasons = items[mis_id].candidates[0].reasons
        assert any(phrase in r for r in reasons), reasons
    not_matched = [i.pupil_id for i in plan.items if i.tag == "not_matched"]
    assert not_matched == [pid(n) for n in case.not_matched]


@pytest.mark.parametrize("case", CASES)
def test_every_pupil_matched_at_most_once_and_scores_in_range(case: Case) -> None:
    plan = build_plan(case.roster, case.answer, CLASSES, case.decisions)
    matched = [i.pupil_id for i in plan.items if i.tag in ("matched", "synced", "resynced")]
    assert len(matched) == len(set(matched))
    for item in plan.items:
        assert all(0.0 <= c.score <= 1.0 and c.reasons for c in item.candidates)
        scores = [c.score for c in item.candidates]
        assert scores == sorted(scores, reverse=True)
        if item.tag == "may_match":
            assert item.pupil_id == item.candidates[0].pupil_id
        if item.tag == "new":
            assert item.candidates == [] and item.changes == {}


def test_tied_candidates_have_equal_scores() -> None:
    plan = build_plan([ours(1), ours(2)], [mis("m1")], CLASSES)
    (item,) = plan.items
    assert item.tag == "may_match"
    assert item.candidates[0].score == item.candidates[1].score >= 0.9


def test_weak_evidence_scores_below_strong() -> None:
    strong = build_plan([ours(1)], [mis("m1")], CLASSES).items[0].candidates[0].score
    weak = build_plan([ours(1, "Amy", "Smyth")], [mis("m1")], CLASSES).items[0].candidates[0].score
    assert weak < strong


def test_dob_default_is_a_real_date() -> None:
    # Guard the builders: a None DOB must be explicit in a row, never a default.
    assert mis("m1").date_of_birth == DOB == ours(1).date_of_birth
