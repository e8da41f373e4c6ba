"""A scripted school year through the API: first sync with hand-added pupils, a group taken out and
back, then a September rollover with leavers, a new intake, promotions and returning pupils."""

from __future__ import annotations

import subprocess
from collections import Counter, defaultdict
from typing import Any

import httpx

from app.demo_mis.server import DemoMisServer
from tests.sync.flow import MisSchool, mis_school


def _registration_pupils(truth: dict[str, Any]) -> dict[str, set[str]]:
    """MIS group name -> MIS pupil ids, from the demo MIS's own account of the school."""
    out: dict[str, set[str]] = defaultdict(set)
    for p in truth["pupils"]:
        out[p["registration_group"]].add(p["id"])
    return out


async def _assert_classes_match_mis(school: MisSchool) -> None:
    """Every set-up class holds exactly its MIS group's pupils among its synced members."""
    truth = school.truth()
    expected = _registration_pupils(truth)
    pupils = await school.pupils()
    by_id = {p["id"]: p for p in pupils}
    classes = await school.classes()
    synced_members: dict[str, set[str]] = defaultdict(set)
    for p in pupils:
        for cid in p["class_ids"]:
            if p["sync_status"] == "synced":
                synced_members[cid].add(p["mis_id"])
    for name, group_pupils in expected.items():
        assert synced_members[classes[name]["id"]] == group_pupils, name
    truth_year = {p["id"]: p["year_group"] for p in truth["pupils"]}
    for p in by_id.values():
        if p["sync_status"] == "synced":
            assert p["year_group"] == truth_year[p["mis_id"]]


async def test_a_school_year(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=300)
    truth = school.truth()
    mis = [p for p in truth["pupils"]]
    h = school.h

    # Pupils added by hand before the first sync: two exact matches, one near miss, one not in the MIS.
    exact_upn = next(p for p in mis if p["upn_valid"] and p["date_of_birth"] and not p["twin_of"])
    exact_name = next(p for p in mis if p["date_of_birth"] and p is not exact_upn and not p["twin_of"])
    near = next(
        p
        for p in mis
        if p["date_of_birth"] and p not in (exact_upn, exact_name) and not p["twin_of"] and len(p["surname"]) >= 6
    )
    hand = [
        {"forename": "Someone", "surname": "Different", "upn": exact_upn["upn"]},
        {
            "forename": exact_name["legal_forename"],
            "surname": exact_name["legal_surname"],
            "date_of_birth": exact_name["date_of_birth"],
        },
        {"forename": near["forename"], "surname": near["surname"][:-1] + "x", "date_of_birth": near["date_of_birth"]},
        {"forename": "Only", "surname": "Manual", "year_group": "Year 3"},
    ]
    hand_ids = []
    for body in hand:
        r = await client.post("/v1/pupils", json=body, headers=h)
        assert r.status_code == 201, r.text
        hand_ids.append(r.json()["id"])

    await school.map_by_name()
    first = await school.preview()
    assert first["status"] == "awaiting_review", first
    counts = first["counts"]
    assert counts["matched"] == 2 and counts["may_match"] == 1 and counts["not_matched"] == 1
    assert counts["new"] == len(mis) - 3 and counts["desynced"] == counts["synced"] == counts["resynced"] == 0
    # Nothing changed before apply.
    assert len(await school.pupils()) == 4
    may = await school.items(first["id"], "may_match")
    assert may[0]["candidates"][0]["pupil_id"] == hand_ids[2] and may[0]["candidates"][0]["reasons"]
    matched = {i["pupil_id"]: i for i in await school.items(first["id"], "matched")}
    assert set(matched) == {hand_ids[0], hand_ids[1]}
    assert any("UPN" in r for r in matched[hand_ids[0]]["candidates"][0]["reasons"])

    done = await school.apply(first["id"], {"select": "all", "decisions": {may[0]["id"]: "confirm"}})
    assert done["status"] == "succeeded", done
    assert done["applied"] == {
        "created": len(mis) - 3,
        "linked": 3,
        "updated": 3,
        "resynced": 0,
        "desynced": 0,
        "skipped": 0,
    }
    pupils = await school.pupils()
    assert len(pupils) == len(mis) + 1
    statuses = Counter(p["sync_status"] for p in pupils)
    assert statuses == {"synced": len(mis), "manual": 1}
    linked = {p["id"]: p for p in pupils}
    assert linked[hand_ids[0]]["mis_id"] == exact_upn["id"] and linked[hand_ids[0]]["forename"] == exact_upn["forename"]
    assert linked[hand_ids[2]]["surname"] == near["surname"]  # corrected from the MIS
    await _assert_classes_match_mis(school)

    # A no-change resync plans nothing to write.
    again = await school.preview()
    assert again["counts"]["synced"] == len(mis) and again["counts"]["updated"] == 0
    assert again["counts"]["new"] == 0 and again["counts"]["not_matched"] == 1

    # Taking a group out of the sync desyncs its pupils; they keep class and year group.
    out_group = next(
        name for name, ids in _registration_pupils(truth).items() if len(ids) >= 2 and name.startswith(("3", "4", "5"))
    )
    await school.map_by_name(skip={out_group})
    taken_out = await school.preview()
    out_ids = _registration_pupils(truth)[out_group]
    assert taken_out["counts"]["desynced"] == len(out_ids)
    assert (await school.apply(taken_out["id"]))["status"] == "succeeded"
    desynced = await school.pupils(sync_status="desynced")
    assert {p["mis_id"] for p in desynced} == out_ids
    classes = await school.classes()
    assert all(classes[out_group]["id"] in p["class_ids"] for p in desynced)

    # September: the top year leaves, everyone moves up, a new intake, new group ids.
    rollover = school.demo_call("POST", "/rollover")
    await school.map_by_name()  # every live group on the class of its name, the taken-out group back in
    sept = await school.preview()
    assert sept["status"] == "awaiting_review", sept
    assert sept["guard"] is None or sept["guard"]["held"] is False
    c = sept["counts"]
    left = set(rollover["left"])
    assert c["desynced"] == len(left - out_ids)
    assert c["new"] == len(rollover["joined"])
    assert c["resynced"] == len(out_ids - left)
    assert (await school.apply(sept["id"]))["status"] == "succeeded"

    await _assert_classes_match_mis(school)
    after = {p["mis_id"]: p for p in await school.pupils() if p["mis_id"]}
    before_year = {p["id"]: p["year_group"] for p in mis}
    for mis_id in left:
        leaver = after[mis_id]
        assert leaver["sync_status"] == "desynced" and leaver["year_group"] == before_year[mis_id]
        assert leaver["class_ids"], "a leaver keeps their last class"
    for mis_id in out_ids - left:
        assert after[mis_id]["sync_status"] == "synced"
    # Nothing was deleted: every pupil ever created is still here.
    assert len(after) == len(mis) + len(rollover["joined"])
