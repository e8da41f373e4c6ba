"""Review and apply rules: the guard, stale and superseded plans, decisions remembered, idempotency,
cancel, apply mode, year-group scope, status events and the audit trail."""

from __future__ import annotations

import subprocess
import uuid
from collections import Counter

import httpx

from app.demo_mis.server import DemoMisServer
from tests.helpers import assert_problem, wait_for_job
from tests.sync.flow import MisSchool, mis_school


async def _synced_school(
    client: httpx.AsyncClient, admin: dict[str, str], demo: DemoMisServer, pupils: int = 120
) -> MisSchool:
    school = await mis_school(client, admin, demo, pupils=pupils)
    await school.map_by_name()
    first = await school.preview()
    assert (await school.apply(first["id"]))["status"] == "succeeded"
    return school


async def test_empty_mis_answer_is_held_as_an_outage(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await _synced_school(client, admin_headers, demo_mis)
    school.demo_call("POST", "/faults", json={"mode": "empty", "endpoint": "students"})
    held = await school.preview()
    assert held["status"] == "held" and held["guard"]["held"] is True and held["guard"]["kind"] == "outage"
    assert "numbers" in held["guard"] and held["guard"]["reason"]
    body = assert_problem(await client.post(f"/v1/sync-jobs/{held['id']}/apply", json={}, headers=school.h), 409)
    assert "guard" in body["detail"].lower()
    school.demo_call("DELETE", "/faults")
    # Nobody was desynced.
    assert Counter(p["sync_status"] for p in await school.pupils()) == {"synced": len(school.truth()["pupils"])}
    # Apply mode never passes the guard either.
    school.demo_call("POST", "/faults", json={"mode": "empty", "endpoint": "students"})
    auto = await school.job({"kind": "pupils", "mode": "apply"})
    assert auto["status"] == "held"
    school.demo_call("DELETE", "/faults")


async def test_changed_mis_ids_are_relinked_after_confirmation(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await _synced_school(client, admin_headers, demo_mis)
    before = {p["id"] for p in await school.pupils()}
    school.demo_call("POST", "/mis-change")
    await school.map_by_name()
    held = await school.preview()
    assert held["status"] == "held" and held["guard"]["kind"] == "mis_change", held
    assert held["counts"]["new"] == 0 and held["counts"]["matched"] > 0
    done = await school.apply(held["id"], {"override_guard": True})
    assert done["status"] == "succeeded", done
    after = await school.pupils()
    assert {p["id"] for p in after} == before  # re-linked, not desynced and created again
    truth_ids = {p["id"] for p in school.truth()["pupils"]}
    assert {p["mis_id"] for p in after} == truth_ids


async def test_stale_and_superseded_plans_are_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await _synced_school(client, admin_headers, demo_mis)
    pupil = (await school.pupils())[0]
    school.demo_call("PATCH", f"/pupils/{pupil['mis_id']}", json={"forename": "Renamed"})
    plan = await school.preview()
    assert plan["counts"]["updated"] == 1
    # A hand edit of a pupil the plan touches makes the plan stale.
    r = await client.patch(f"/v1/pupils/{pupil['id']}", json={"surname": "Edited"}, headers=school.h)
    assert r.status_code == 200
    body = assert_problem(await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json={}, headers=school.h), 409)
    assert "preview" in body["detail"]
    assert (await client.get(f"/v1/pupils/{pupil['id']}", headers=school.h)).json()["forename"] != "Renamed"
    # A newer plan supersedes it.
    newer = await school.preview()
    old = (await client.get(f"/v1/sync-jobs/{plan['id']}", headers=school.h)).json()
    assert old["status"] == "cancelled" and "newer plan" in old["error"]["detail"]
    assert_problem(await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json={}, headers=school.h), 409)
    done = await school.apply(newer["id"])
    assert done["status"] == "succeeded"
    got = (await client.get(f"/v1/pupils/{pupil['id']}", headers=school.h)).json()
    assert got["forename"] == "Renamed" and got["surname"] == pupil["surname"]  # the MIS is the source
    # An applied plan cannot be applied again.
    assert_problem(await client.post(f"/v1/sync-jobs/{newer['id']}/apply", json={}, headers=school.h), 409)


async def test_reject_is_remembered_and_selection_is_honoured(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=80)
    mis = school.plain_mis_pupil()
    hand = await school.add_by_hand(mis["forename"], mis["surname"] + "e", date_of_birth=mis["date_of_birth"])
    await school.map_by_name()
    plan = await school.preview()
    may = await school.items(plan["id"], "may_match")
    assert [i["mis"]["mis_id"] for i in may] == [mis["id"]]
    new_items = await school.items(plan["id"], "new")
    excluded = new_items[0]
    # Invalid requests change nothing.
    bad = {"decisions": {new_items[1]["id"]: "confirm"}}
    assert_problem(await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json=bad, headers=school.h), 422)
    assert_problem(
        await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json={"select": "some"}, headers=school.h), 422
    )
    assert_problem(await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json={}, headers=school.keys.viewer), 403)
    done = await school.apply(plan["id"], {"exclude": [excluded["id"]], "decisions": {may[0]["id"]: "reject"}})
    assert done["applied"]["created"] == plan["counts"]["new"] - 1 + 1
    items = {i["id"]: i for i in await school.items(plan["id"])}
    assert items[excluded["id"]]["applied"] is False and items[may[0]["id"]]["applied"] is True
    assert (await client.get(f"/v1/pupils/{hand['id']}", headers=school.h)).json()["sync_status"] == "manual"
    # The rejected pair is never proposed again; the excluded pupil comes back as new.
    again = await school.preview()
    assert again["counts"]["may_match"] == 0 and again["counts"]["new"] == 1 and again["counts"]["not_matched"] == 1


async def test_apply_mode_applies_what_needs_no_decision(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=80)
    mis = school.plain_mis_pupil()
    await school.add_by_hand(mis["forename"], mis["surname"] + "e", date_of_birth=mis["date_of_birth"])
    await school.map_by_name()
    job = await school.job({"kind": "pupils", "mode": "apply"})
    assert job["status"] == "succeeded", job
    assert job["applied"]["skipped"] == 1 and job["applied"]["created"] == job["counts"]["new"]
    assert len(await school.pupils(sync_status="synced")) == len(school.truth()["pupils"]) - 1


async def test_year_group_scope(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=120)
    await school.map_by_name()
    plan = await school.preview(year_groups=["7", "Year 8"])
    assert plan["year_groups"] == ["Year 7", "Year 8"]
    expected = [p for p in school.truth()["pupils"] if p["year_group"] in ("Year 7", "Year 8")]
    assert plan["counts"]["new"] == len(expected) > 0
    assert_problem(
        await client.post("/v1/sync-jobs", json={"kind": "pupils", "year_groups": ["Year 99"]}, headers=school.h), 422
    )


async def test_idempotency_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=40)
    h = {**school.h, "Idempotency-Key": "k-1"}
    first = await client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=h)
    second = await client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=h)
    assert first.status_code == second.status_code == 202 and first.json()["id"] == second.json()["id"]
    assert_problem(await client.post("/v1/sync-jobs", json={"kind": "pupils"}, headers=h), 422)
    await wait_for_job(client, school.h, first.json()["id"])
    listed = (await client.get("/v1/sync-jobs", headers=school.h)).json()["items"]
    assert len(listed) == 1


async def test_cancel_before_apply(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=40)
    await school.map_by_name()
    plan = await school.preview()
    r = await client.post(f"/v1/sync-jobs/{plan['id']}/cancel", headers=school.h)
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    assert_problem(await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json={}, headers=school.h), 409)
    assert await school.pupils() == []


async def test_events_stream_and_audit_trail(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=40)
    await school.map_by_name()
    r = await client.post("/v1/sync-jobs", json={"kind": "pupils"}, headers=school.h)
    job_id = r.json()["id"]
    events = []
    async with client.stream("GET", f"/v1/sync-jobs/{job_id}/events", headers=school.h) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
    assert events[-1] == "end" and events.count("status") >= 1
    job = await wait_for_job(client, school.h, job_id)
    assert job["status"] == "awaiting_review"
    await school.apply(job_id)
    pupil = (await school.pupils())[0]
    trail = (await client.get("/v1/audit-events", params={"pupil_id": pupil["id"]}, headers=school.h)).json()
    assert [e["action"] for e in trail["items"]] == ["pupil.created"]
    assert trail["items"][0]["job_id"] == job_id and trail["items"][0]["actor"].startswith("key:")


async def test_an_unusual_share_of_desyncs_is_held(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await _synced_school(client, admin_headers, demo_mis)
    # Untick every primary form: far more than 20% of the synced pupils would be desynced, and not as
    # a rollover (not the top year, no new intake).
    primary = {g["name"] for g in await school.fetch_groups() if g["name"][:1] in "123456"}
    await school.map_by_name(skip=primary)
    held = await school.preview()
    assert held["status"] == "held" and held["guard"]["kind"] == "mass_desync", held["guard"]
    assert held["guard"]["numbers"]["desynced"] == held["counts"]["desynced"] > 0
    done = await school.apply(held["id"], {"override_guard": True})
    assert done["status"] == "succeeded" and done["applied"]["desynced"] == held["counts"]["desynced"]


async def test_a_nightly_resync_of_a_settled_school_writes_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await _synced_school(client, admin_headers, demo_mis, pupils=60)
    before = {p["id"]: (p["updated_at"], p["class_ids"]) for p in await school.pupils()}
    job = await school.job({"kind": "pupils", "mode": "apply"})
    assert job["status"] == "succeeded" and job["applied"]["updated"] == 0
    after = {p["id"]: (p["updated_at"], p["class_ids"]) for p in await school.pupils()}
    assert after == before


async def test_a_purge_after_the_preview_makes_the_plan_unappliable(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=40)
    mis = school.plain_mis_pupil()
    hand = await school.add_by_hand(mis["legal_forename"], mis["legal_surname"], date_of_birth=mis["date_of_birth"])
    await school.map_by_name()
    plan = await school.preview()
    assert plan["counts"]["matched"] == 1
    assert (await client.delete(f"/v1/pupils/{hand['id']}?immediate=true", headers=school.h)).status_code == 204
    body = assert_problem(await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json={}, headers=school.h), 409)
    assert "purged" in body["detail"]
    assert await school.pupils() == []


async def test_a_hand_made_membership_survives_promotion(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=80)
    await school.map_by_name()
    classes = await school.classes()
    mis = school.plain_mis_pupil(also=lambda p: p["year_group"] not in ("Year 13", "Year 14"))
    own_class = classes[mis["registration_group"]]["id"]
    # Added by hand, into the class of their MIS group, before the first sync links them.
    hand = await school.add_by_hand(
        mis["legal_forename"], mis["legal_surname"], date_of_birth=mis["date_of_birth"], class_ids=[own_class]
    )
    first = await school.preview()
    assert (await school.apply(first["id"]))["status"] == "succeeded"
    school.demo_call("POST", "/rollover")
    await school.map_by_name()
    sept = await school.preview()
    assert (await school.apply(sept["id"]))["status"] == "succeeded"
    after = (await client.get(f"/v1/pupils/{hand['id']}", headers=school.h)).json()
    new_group = next(p["registration_group"] for p in school.truth()["pupils"] if p["id"] == mis["id"])
    new_class = (await school.classes())[new_group]["id"]
    assert own_class in after["class_ids"] and new_class in after["class_ids"]  # hand-made kept, promoted too


async def test_links_choose_which_candidate_a_may_match_links(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=60)
    mis = school.plain_mis_pupil(also=lambda p: len(p["surname"]) >= 6)
    ids = []
    for surname in (mis["surname"] + "e", mis["surname"][:-1] + "x"):  # two near misses, same date of birth
        ids.append((await school.add_by_hand(mis["forename"], surname, date_of_birth=mis["date_of_birth"]))["id"])
    await school.map_by_name()
    plan = await school.preview()
    [item] = await school.items(plan["id"], "may_match")
    assert {c["pupil_id"] for c in item["candidates"]} == set(ids)
    other = next(c["pupil_id"] for c in item["candidates"] if c["pupil_id"] != item["pupil_id"])
    bad = {"links": {item["id"]: str(uuid.uuid4())}}
    assert_problem(await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json=bad, headers=school.h), 422)
    done = await school.apply(plan["id"], {"links": {item["id"]: other}})
    assert done["status"] == "succeeded" and done["applied"]["linked"] == 1
    linked = (await client.get(f"/v1/pupils/{other}", headers=school.h)).json()
    assert linked["mis_id"] == mis["id"] and linked["surname"] == mis["surname"]
    left = next(i for i in ids if i != other)
    assert (await client.get(f"/v1/pupils/{left}", headers=school.h)).json()["sync_status"] == "manual"
