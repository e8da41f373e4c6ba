"""The generator: deterministic, realistic, and able to make 100,000 pupils."""

from __future__ import annotations

from collections import Counter

from app.demo_mis import upn
from app.demo_mis.data import YEARS, generate
from app.demo_mis.school import School, SchoolOptions


def test_upn_check_letter_rule() -> None:
    # python-stdnum's documented example and the DfE worked rule (weights 2..13, mod 23).
    assert upn.is_valid("B801200005001")
    assert not upn.is_valid("A801200005001")
    assert upn.check_letter("801200005001") == "B"
    # Temporary UPN: the final letter counts as its table value.
    body = "80120000500A"
    assert upn.is_valid(upn.check_letter(body) + body)
    assert not upn.is_valid("B80120000500")  # 12 characters
    assert not upn.is_valid(None)


def test_same_seed_same_school_and_different_seed_differs() -> None:
    a = School("X", SchoolOptions(pupils=500, seed=3)).truth()
    b = School("X", SchoolOptions(pupils=500, seed=3)).truth()
    c = School("X", SchoolOptions(pupils=500, seed=4)).truth()
    other_ref = School("Y", SchoolOptions(pupils=500, seed=3)).truth()
    assert a == b
    assert [p["forename"] for p in a["pupils"]] != [p["forename"] for p in c["pupils"]]
    assert not {p["id"] for p in a["pupils"]} & {p["id"] for p in other_ref["pupils"]}


def test_realism() -> None:
    truth = School("R", SchoolOptions(pupils=3000, seed=1)).truth()
    pupils = truth["pupils"]
    assert len(pupils) == 3000
    assert {p["nc_year"] for p in pupils} == set(YEARS)
    names = " ".join(p["forename"] + " " + p["surname"] for p in pupils)
    for sample in ("Zoë", "Chloé", "Søren", "O'Brien", "D'Souza", "Smith-Jones"):
        assert sample in names
    assert any(p["forename"] != p["legal_forename"] for p in pupils)
    assert any(p["surname"] != p["legal_surname"] for p in pupils)
    assert any(p["date_of_birth"] is None for p in pupils)
    assert any(p["upn"] is None for p in pupils)
    twins = [p for p in pupils if p["twin_of"]]
    assert twins
    by_id = {p["id"]: p for p in pupils}
    for t in twins:
        sibling = by_id[t["twin_of"]]
        assert (t["legal_surname"], t["date_of_birth"]) == (sibling["legal_surname"], sibling["date_of_birth"])
        assert t["legal_forename"] != sibling["legal_forename"]
    regs = [g for g in truth["groups"] if g["type"] == "REGISTRATION"]
    per_year = Counter(g["nc_year"] for g in regs)
    assert all(per_year[y] >= 2 for y in YEARS)
    assert {"7A", "7B", "RA", "N1A"} <= {g["name"] for g in regs}
    assert {g["type"] for g in truth["groups"]} == {"REGISTRATION", "YEAR", "HOUSE", "TEACHING"}
    assert truth["gone"]  # some pupils already left


def test_upn_validity_matches_the_flag() -> None:
    pupils = School("U", SchoolOptions(pupils=5000, seed=2)).truth()["pupils"]
    with_upn = [p for p in pupils if p["upn"]]
    valid = [p for p in with_upn if p["upn_valid"]]
    invalid = [p for p in with_upn if not p["upn_valid"]]
    assert valid and invalid
    assert all(upn.is_valid(p["upn"]) for p in valid)
    assert not any(upn.is_valid(p["upn"]) for p in invalid)
    assert all(len(p["upn"]) == 13 for p in with_upn)
    assert len({p["upn"] for p in with_upn}) == len(with_upn)  # unique


def test_generates_100k_pupils() -> None:
    data = generate("BIG", 1, 100_000)
    assert len(data.pupils) == 100_000
    assert len({p.upn for p in data.pupils.values() if p.upn}) == sum(1 for p in data.pupils.values() if p.upn)
    regs = {g.id for g in data.groups.values() if g.kind == "REGISTRATION"}
    assert sum(1 for p in data.pupils.values() if p.reg_id in regs) == 100_000
