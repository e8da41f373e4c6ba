"""The leavers tidy-up on a school straight after a rollover, through the API with the demo MIS:
before and after (class counts against the MIS, access lists, the leavers class, deleted classes),
dry-run equality, idempotency, refusals."""

from __future__ import annotations

import subprocess
from typing import Any

import httpx

from app.demo_mis.server import DemoMisServer
from tests.helpers import assert_problem
from tests.sync.flow import MisSchool, mis_school


async def _snapshot(school: MisSchool) -> tuple[Any, ...]:
    """Everything the tidy-up may change, as the API shows it."""
    pupils = sorted(await school.pupils(), key=lambda p: p["id"])
    classes = sorted((await school.classes()).values(), key=lambda c: c["id"])
    return pupils, classes


async def _post(client: httpx.AsyncClient, path: str, headers: dict[str, str], body: Any = None) -> dict[str, Any]:
    r = await client.post(path, json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    return r.json()  # type: ignore[no-any-return]


async def _promoted_school(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo: DemoMisServer
) -> tuple[MisSchool, dict[str, Any], dict[str, Any]]:
    """A school synced, with hand-made classes and pupils, then rolled over and synced again."""
    school = await mis_school(client, admin_headers, demo, pupils=300)
    h = school.h
    school.demo_call("POST", "/groups", json={"name": "7Z", "year": "7"})  # an MIS group with no pupils
    await school.map_by_name()
    first = await school.preview()
    assert first["status"] == "awaiting_review", first
    assert (await school.apply(first["id"]))["status"] == "succeeded"

    # What a school does by hand during a year.
    trip = await _post(client, "/v1/classes", h, {"name": "Year 13 Trip"})
    await _post(client, f"/v1/classes/{trip['id']}/pupils", h, {"filter": {"year_group": "Year 13"}})
    spare = await _post(client, "/v1/classes", h, {"name": "Spare"})
    chess = await _post(client, "/v1/classes", h, {"name": "Chess Club"})
    await _post(client, f"/v1/classes/{chess['id']}/pupils", h, {"filter": {"year_group": "Year 12"}})
    manual = await _post(client, "/v1/pupils", h, {"forename": "Only", "surname": "Manual", "class_ids": [chess["id"]]})
    hidden_manual = await _post(
        client,
        "/v1/pupils",
        h,
        {"forename": "Gone", "surname": "Manual", "has_access": False, "class_ids": [chess["id"]]},
    )
    year10 = await school.pupils(year_group="Year 10")
    revoked_by_hand = year10[0]
    assert (await _post(client, "/v1/pupils/revoke-access", h, {"pupil_ids": [revoked_by_hand["id"]]})) == {
        "changed": 1
    }
    pending = (await school.pupils(year_group="Year 9"))[0]
    r = await client.delete(f"/v1/pupils/{pending['id']}", headers=h)
    assert r.status_code == 200 and r.json()["pending_deletion_until"], r.text

    rollover = school.demo_call("POST", "/rollover")
    await school.map_by_name()
    sept = await school.preview()
    assert sept["status"] == "awaiting_review", sept
    # The pupil pending deletion is neither matched nor planned as new.
    assert sept["counts"]["new"] == len(rollover["joined"]), sept["counts"]
    assert (await school.apply(sept["id"]))["status"] == "succeeded"
    extra = {
        "trip": trip,
        "spare": spare,
        "chess": chess,
        "manual": manual,
        "hidden_manual": hidden_manual,
        "revoked_by_hand": revoked_by_hand,
        "pending": pending,
    }
    return school, rollover, extra


async def test_tidy_up_after_a_rollover(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school, rollover, x = await _promoted_school(client, admin_headers, demo_mis)
    h = school.h
    left = set(rollover["left"])
    truth = school.truth()
    mis_groups = {g["name"]: g for g in truth["groups"] if g["type"] == "REGISTRATION"}

    # Before: the leavers are desynced, still have access and overfill their last classes.
    leavers = await school.pupils(sync_status="desynced")
    assert {p["mis_id"] for p in leavers} == left and all(p["has_access"] for p in leavers)
    classes = await school.classes()
    overfull = {classes[n]["id"] for p in leavers for n in classes if classes[n]["id"] in p["class_ids"]}
    assert any(c["pupil_count"] > mis_groups[c["name"]]["pupil_count"] for c in classes.values() if c["id"] in overfull)
    everyone_before = await school.pupils()

    # Bad input and viewers change nothing.
    before = await _snapshot(school)
    assert_problem(await client.post("/v1/leavers/tidy", json={"dry_run": "perhaps"}, headers=h), 422)
    assert_problem(await client.post("/v1/leavers/tidy", json={"class_name": " "}, headers=h), 422)
    assert_problem(await client.post("/v1/leavers/tidy", json={"dry_run": False, "colour": 1}, headers=h), 422)
    assert_problem(
        await client.post("/v1/leavers/tidy", content=b"{", headers={**h, "content-type": "application/json"}), 400
    )
    assert_problem(await client.post("/v1/leavers/tidy", json={"dry_run": False}, headers=school.keys.viewer), 403)
    body = assert_problem(
        await client.post("/v1/leavers/tidy", json={"dry_run": False, "class_name": "13A"}, headers=h), 409
    )
    assert body["class_id"] == classes["13A"]["id"]
    assert await _snapshot(school) == before

    # The dry run (the default) answers and changes nothing.
    dry = await _post(client, "/v1/leavers/tidy", h)
    assert await _snapshot(school) == before
    assert dry == await _post(client, "/v1/leavers/tidy", h, {"dry_run": True})
    n_without = len(left) + 1  # the leavers and the manual pupil without access
    assert dry["dry_run"] is True
    assert dry["revoked"] == len(left)
    assert dry["granted"] == 1
    assert dry["moved"] == n_without
    assert dry["returned"] == 0
    # Each leaver leaves their Year 13 class and the trip; the hidden manual pupil leaves the chess club.
    assert dry["memberships_ended"] == 2 * len(left) + 1
    assert dry["leavers_class"] == {"id": None, "name": "Leavers/Desynced", "created": True, "pupil_count": n_without}
    assert dry["deleted_classes"] == [
        {"id": x["spare"]["id"], "name": "Spare"},
        {"id": x["trip"]["id"], "name": "Year 13 Trip"},
    ]

    # The real run does exactly that.
    real = await _post(client, "/v1/leavers/tidy", h, {"dry_run": False})
    leavers_id = real["leavers_class"]["id"]
    assert leavers_id
    assert real == {**dry, "dry_run": False, "leavers_class": {**dry["leavers_class"], "id": leavers_id}}

    # After: every MIS group's class count matches the MIS; the leavers class holds exactly the pupils
    # without access; the emptied hand-made classes are gone; set-up classes stay even when empty.
    classes = await school.classes()
    # (The pupil pending deletion is the one the school chose not to count.)
    pending_group = next(p["registration_group"] for p in truth["pupils"] if p["id"] == x["pending"]["mis_id"])
    for name, group in mis_groups.items():
        assert classes[name]["pupil_count"] == group["pupil_count"] - (name == pending_group), name
    assert classes["7Z"]["pupil_count"] == 0 and classes["7Z"]["set_up"]  # mapped and set up: kept
    assert "Spare" not in classes and "Year 13 Trip" not in classes
    assert classes["Chess Club"]["pupil_count"] > 1  # the manual pupil with access and the promoted pupils stay
    without = await school.pupils(access="without")
    assert len(without) == n_without == classes["Leavers/Desynced"]["pupil_count"]
    members = (await client.get(f"/v1/classes/{leavers_id}/pupils?access=all&limit=1000", headers=h)).json()
    assert {p["id"] for p in members["items"]} == {p["id"] for p in without}
    assert all(p["class_ids"] == [leavers_id] for p in without)
    assert {p["mis_id"] for p in without} == left | {None}
    assert await school.pupils(access="with", sync_status="desynced") == []
    assert await school.pupils(access="without", sync_status="synced") == []
    # By default a class list hides them.
    assert (await client.get(f"/v1/classes/{leavers_id}/pupils", headers=h)).json()["total"] == 0
    # Nothing was lost.
    everyone_after = await school.pupils()
    assert {p["id"] for p in everyone_after} == {p["id"] for p in everyone_before}
    got = await client.get(f"/v1/pupils/{x['pending']['id']}", headers=h)
    assert got.status_code == 200 and got.json()["class_ids"]  # pending deletion: untouched
    manual = next(p for p in everyone_after if p["id"] == x["manual"]["id"])
    assert manual["has_access"] and manual["class_ids"] == [x["chess"]["id"]]

    # The audit keeps the classes each pupil left.
    leaver = next(p for p in leavers if p["mis_id"] in left)
    r = await client.get(f"/v1/audit-events?pupil_id={leaver['id']}&action=pupil.moved_to_leavers", headers=h)
    (event,) = r.json()["items"]
    assert event["data"]["class_id"] == leavers_id
    assert event["data"]["ended_class_ids"] == sorted(leaver["class_ids"])
    assert x["trip"]["id"] in event["data"]["ended_class_ids"]
    r = await client.get(f"/v1/audit-events?pupil_id={leaver['id']}&action=pupil.access_revoked", headers=h)
    assert len(r.json()["items"]) == 1

    # Again: nothing to do, nothing changes.
    after = await _snapshot(school)
    again = await _post(client, "/v1/leavers/tidy", h, {"dry_run": False})
    assert again == {
        "dry_run": False,
        "revoked": 0,
        "granted": 0,
        "moved": 0,
        "memberships_ended": 0,
        "returned": 0,
        "leavers_class": {"id": leavers_id, "name": "Leavers/Desynced", "created": False, "pupil_count": n_without},
        "deleted_classes": [],
    }
    assert await _snapshot(school) == after

    # The sync agrees: nothing left to change.
    check = await school.preview()
    c = check["counts"]
    assert c["new"] == c["desynced"] == c["resynced"] == c["updated"] == 0, c

    # A pupil given access again by hand leaves the leavers class at the next tidy-up.
    back = x["hidden_manual"]["id"]
    assert await _post(client, "/v1/pupils/grant-access", h, {"pupil_ids": [back]}) == {"changed": 1}
    once_more = await _post(client, "/v1/leavers/tidy", h, {"dry_run": False})
    assert (once_more["revoked"], once_more["granted"], once_more["moved"]) == (0, 0, 0)
    assert once_more["returned"] == once_more["memberships_ended"] == 1
    assert once_more["leavers_class"]["pupil_count"] == n_without - 1
    assert (await client.get(f"/v1/pupils/{back}", headers=h)).json()["class_ids"] == []
