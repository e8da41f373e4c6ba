"""Rollover, the MIS change, and the per-pupil mutations of the control API."""

from __future__ import annotations

from collections import Counter

import httpx

from app.demo_mis.data import YEARS

from .conftest import P


def test_rollover(client: httpx.Client, ref: str, wonde: dict[str, str], oneroster: dict[str, str]) -> None:
    before = client.get(f"/_demo/schools/{ref}/truth").json()
    r = client.post(f"/_demo/schools/{ref}/rollover")
    assert r.status_code == 200
    result = r.json()
    after = client.get(f"/_demo/schools/{ref}/truth").json()
    leavers = {p["id"] for p in before["pupils"] if p["nc_year"] == "13"}
    assert set(result["left"]) == leavers
    old = {p["id"]: p for p in before["pupils"]}
    now = {p["id"]: p for p in after["pupils"]}
    assert not leavers & set(now)
    for pid, p in now.items():
        if pid in old:
            was = old[pid]
            assert YEARS.index(p["nc_year"]) == YEARS.index(was["nc_year"]) + 1
            assert p["registration_group"] == p["nc_year"] + was["registration_group"][len(was["nc_year"]) :]
            assert p["registration_group_id"] != was["registration_group_id"]
            assert (p["forename"], p["date_of_birth"], p["upn"]) == (was["forename"], was["date_of_birth"], was["upn"])
        else:
            assert p["nc_year"] == "N1"
    assert set(result["joined"]) == set(now) - set(old)
    # A fresh "7A" with a new id; the old "7A" id is gone.
    old_7a = next(g["id"] for g in before["groups"] if g["name"] == "7A")
    new_7a = next(g["id"] for g in after["groups"] if g["name"] == "7A")
    assert new_7a != old_7a and old_7a not in {g["id"] for g in after["groups"]}
    assert Counter(p["registration_group"] for p in now.values())["8A"] == sum(
        1 for p in before["pupils"] if p["registration_group"] == "7A"
    )
    # Providers: leavers in Wonde deletions; tobedeleted in OneRoster.
    deletions = client.get(f"/v1.0/schools/{ref}/deletions?type=student&per_page=200", headers=wonde).json()
    assert leavers <= {d["id"] for d in deletions["data"]}
    gone = client.get(f"{P}/schools/{ref}/students", params={"filter": "status='tobedeleted'", "limit": 1000},
                      headers=oneroster).json()["users"]  # fmt: skip
    assert leavers <= {u["sourcedId"] for u in gone}
    classes = client.get(f"{P}/schools/{ref}/classes", params={"limit": 1000}, headers=oneroster).json()["classes"]
    assert next(c for c in classes if c["sourcedId"] == old_7a)["status"] == "tobedeleted"


def test_rollover_is_deterministic(client: httpx.Client, ref: str) -> None:
    client.post(f"/_demo/schools/{ref}/rollover")
    first = client.get(f"/_demo/schools/{ref}/truth").json()
    client.post(f"/_demo/schools/{ref}/reset")
    client.post(f"/_demo/schools/{ref}/rollover")
    second = client.get(f"/_demo/schools/{ref}/truth").json()
    assert first["pupils"] == second["pupils"]
    assert [g["id"] for g in first["groups"]] == [g["id"] for g in second["groups"]]


def test_add_edit_move_remove_reset(client: httpx.Client, ref: str, wonde: dict[str, str]) -> None:
    r = client.post(f"/_demo/schools/{ref}/pupils", json={"forename": "Søren", "surname": "O'Brien",
                                                          "date_of_birth": "2013-02-03", "year": "Year 7"})  # fmt: skip
    assert r.status_code == 201
    new = r.json()
    assert new["nc_year"] == "7" and new["registration_group"] == "7A"
    r = client.patch(f"/_demo/schools/{ref}/pupils/{new['id']}", json={"group": "8B", "legal_forename": "Soren"})
    moved = r.json()
    assert moved["registration_group"] == "8B" and moved["nc_year"] == "8" and moved["legal_forename"] == "Soren"
    one = client.get(f"/v1.0/schools/{ref}/students/{new['id']}?include=education_details", headers=wonde).json()
    assert one["data"]["education_details"]["data"]["current_nc_year"] == "8"
    assert client.delete(f"/_demo/schools/{ref}/pupils/{new['id']}").status_code == 204
    assert client.delete(f"/_demo/schools/{ref}/pupils/{new['id']}").status_code == 404
    assert client.patch(f"/_demo/schools/{ref}/pupils/x", json={}).status_code == 404
    assert client.post(f"/_demo/schools/{ref}/pupils", json={"forename": "A"}).status_code == 400
    generated = client.post(f"/_demo/schools/{ref}/reset").json()
    assert generated["pupils"] == 300


def test_mis_change_keeps_people_changes_ids(client: httpx.Client, ref: str) -> None:
    before = client.get(f"/_demo/schools/{ref}/truth").json()
    result = client.post(f"/_demo/schools/{ref}/mis-change").json()
    after = client.get(f"/_demo/schools/{ref}/truth").json()
    assert not {p["id"] for p in before["pupils"]} & {p["id"] for p in after["pupils"]}

    def person(p: dict[str, object]) -> tuple[object, ...]:
        return (p["forename"], p["surname"], p["date_of_birth"], p["upn"], p["registration_group"])

    assert sorted(map(person, before["pupils"]), key=repr) == sorted(map(person, after["pupils"]), key=repr)
    assert set(result["pupil_map"]) == {p["id"] for p in before["pupils"]}
    assert {p["id"] for p in before["pupils"]} <= {g["id"] for g in after["gone"]}


def test_resize_and_seed(client: httpx.Client, ref: str) -> None:
    r = client.put(f"/_demo/schools/{ref}", json={"pupils": 50, "seed": 9})
    assert r.json()["pupils"] == 50
    assert len(client.get(f"/_demo/schools/{ref}/truth").json()["pupils"]) == 50
    assert client.put(f"/_demo/schools/{ref}", json={"pupils": -1}).status_code == 400
