"""Registration groups and class mapping end to end: API -> worker -> demo MIS over HTTP, and a rollover."""

from __future__ import annotations

import subprocess
from collections import Counter
from typing import Any

import httpx
import pytest

from app.demo_mis.server import DemoMisServer
from tests.conftest import SchoolKeys, demo_ref, make_school, oneroster_connection, wonde_connection
from tests.helpers import wait_for_job
from tests.mapping.conftest import Db


async def _fetch_groups(client: httpx.AsyncClient, school: SchoolKeys) -> list[dict[str, Any]]:
    r = await client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=school.coordinator)
    assert r.status_code == 202, r.text
    job = await wait_for_job(client, school.viewer, r.json()["id"])
    assert job["status"] == "succeeded", job
    r = await client.get("/v1/mis/registration-groups?include_stale=true", headers=school.viewer)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    assert r.json()["total"] == len(items)
    return items


def _truth(demo: DemoMisServer, ref: str) -> dict[str, Any]:
    r = httpx.get(f"{demo.url}/_demo/schools/{ref}/truth")
    assert r.status_code == 200, r.text
    truth: dict[str, Any] = r.json()
    return truth


@pytest.mark.parametrize("provider", ["wonde", "oneroster"])
async def test_fetched_groups_match_the_mis(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    worker: subprocess.Popen[bytes],
    request: pytest.FixtureRequest,
    provider: str,
) -> None:
    ref = demo_ref(request)
    connection = wonde_connection(demo_mis, ref) if provider == "wonde" else oneroster_connection(demo_mis, ref)
    school = await make_school(client, admin_headers, mis=connection)
    r = await client.post("/v1/classes", json={"name": " 7a"}, headers=school.coordinator)
    seven_a = r.json()["id"]
    groups = await _fetch_groups(client, school)

    truth = _truth(demo_mis, ref)
    expected = {g["id"]: g for g in truth["groups"] if g["type"] == "REGISTRATION"}
    assert {g["mis_group_id"]: (g["name"], g["year_group"], g["pupil_count"]) for g in groups} == {
        gid: (g["name"], g["year_group"], g["pupil_count"]) for gid, g in expected.items()
    }
    assert sum(g["pupil_count"] for g in groups) == len(truth["pupils"])
    assert not any(g["stale"] or g["class_id"] or g["set_up"] for g in groups)
    # Youngest year first ("N1A" ... "13B").
    assert groups[0]["year_group"] == "Nursery 1" and groups[-1]["year_group"] == "Year 13"
    by_name = {g["name"]: g for g in groups}
    assert by_name["7A"]["suggested_class_id"] == seven_a and by_name["7A"]["suggested_by"] == "name"
    assert sum(1 for g in groups if g["suggested_class_id"]) == 1


async def test_mapping_and_suggestions_across_a_rollover(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    worker: subprocess.Popen[bytes],
    request: pytest.FixtureRequest,
    db: Db,
) -> None:
    ref = demo_ref(request)
    assert httpx.put(f"{demo_mis.url}/_demo/schools/{ref}", json={"pupils": 64}).status_code == 200
    school = await make_school(client, admin_headers, mis=wonde_connection(demo_mis, ref))
    h = school.coordinator
    before = await _fetch_groups(client, school)
    assert len(before) == 32 and {g["name"][-1] for g in before} == {"A", "B"}

    # "A" forms go on classes named after their tutors; "B" forms on classes named after the groups.
    mappings: list[dict[str, Any]] = []
    for g in before:
        if g["name"].endswith("A"):
            r = await client.post("/v1/classes", json={"name": f"Tutor of {g['name']}"}, headers=h)
            mappings.append({"mis_group_id": g["mis_group_id"], "class_id": r.json()["id"], "set_up": True})
        else:
            mappings.append({"mis_group_id": g["mis_group_id"], "class_id": None, "set_up": True})
    r = await client.put("/v1/class-mappings", json={"mappings": mappings}, headers=h)
    assert r.status_code == 200, r.text
    class_of_group = {m["mis_group_id"]: m["class_id"] for m in r.json()["mappings"]}
    class_by_name = {m["class_name"]: m["class_id"] for m in r.json()["mappings"]}
    assert len(class_of_group) == 32 and all(m["set_up"] for m in r.json()["mappings"])

    # What a pupil sync would have left: every MIS pupil in the class of their group, MIS-managed.
    truth = _truth(demo_mis, ref)
    await db.add_synced_pupils(
        school.id, [(p["id"], class_of_group[p["registration_group_id"]]) for p in truth["pupils"]]
    )

    rolled = httpx.post(f"{demo_mis.url}/_demo/schools/{ref}/rollover", json={})
    assert rolled.status_code == 200, rolled.text
    group_map: dict[str, str] = rolled.json()["group_map"]  # old group id -> its successor
    after = await _fetch_groups(client, school)
    live = [g for g in after if not g["stale"]]
    stale = [g for g in after if g["stale"]]
    # Old groups are kept, stale, after the live ones, still mapped; none deleted.
    assert after == live + stale
    assert {g["mis_group_id"] for g in stale} == {g["mis_group_id"] for g in before}
    assert all(g["class_id"] == class_of_group[g["mis_group_id"]] and g["set_up"] for g in stale)
    truth = _truth(demo_mis, ref)
    counts = Counter(p["registration_group_id"] for p in truth["pupils"])
    assert {g["mis_group_id"]: g["pupil_count"] for g in live} == {
        g["id"]: counts.get(g["id"], 0) for g in truth["groups"] if g["type"] == "REGISTRATION"
    }

    # Suggestions: same name first ("8B" onto the class "8B"), lineage next ("8A" onto "Tutor of 7A").
    successor_of = {new: old for old, new in group_map.items()}
    old_name = {g["mis_group_id"]: g["name"] for g in before}
    for g in live:
        predecessor = successor_of.get(g["mis_group_id"])
        if g["name"].endswith("B"):
            assert (g["suggested_class_id"], g["suggested_by"]) == (class_by_name[g["name"]], "name"), g
        elif predecessor is not None:
            assert (g["suggested_class_id"], g["suggested_by"]) == (class_of_group[predecessor], "lineage"), g
            assert old_name[predecessor][:-1] != g["name"][:-1]  # a year up
        else:  # the new intake's "N1A": no class of that name, no pupils known yet
            assert g["name"] == "N1A" and g["suggested_class_id"] is None, g

    # A class whose group went stale is taken over by mapping a new group onto it.
    new_8a = next(g for g in live if g["name"] == "8A")
    r = await client.put(
        "/v1/class-mappings",
        json={
            "mappings": [
                {"mis_group_id": new_8a["mis_group_id"], "class_id": class_by_name["Tutor of 7A"], "set_up": True}
            ]
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    old_7a = successor_of[new_8a["mis_group_id"]]
    mapped = {m["mis_group_id"]: m for m in r.json()["mappings"]}
    assert old_7a not in mapped and mapped[new_8a["mis_group_id"]]["stale"] is False

    # Accept every other suggestion in one request; then the mapped classes hold live groups only,
    # but for "Tutor of 13A" (its pupils left) and the N1A intake which has no class yet.
    groups = (await client.get("/v1/mis/registration-groups?include_stale=true", headers=school.viewer)).json()["items"]
    accept = [
        {"mis_group_id": g["mis_group_id"], "class_id": g["suggested_class_id"], "set_up": True}
        for g in groups
        if g["suggested_class_id"]
    ]
    assert len(accept) == 30
    r = await client.put("/v1/class-mappings", json={"mappings": accept}, headers=h)
    assert r.status_code == 200, r.text
    result = r.json()["mappings"]
    assert [m["class_name"] for m in result if m["stale"]] == ["Tutor of 13A"]
    assert sum(1 for m in result if not m["stale"]) == 31
    # A class now mapped to a live group cannot be taken: 409, nothing changes.
    n1a = next(g for g in live if g["name"] == "N1A")
    r = await client.put(
        "/v1/class-mappings",
        json={"mappings": [{"mis_group_id": n1a["mis_group_id"], "class_id": class_by_name["8B"], "set_up": True}]},
        headers=h,
    )
    assert r.status_code == 409
    assert (await client.get("/v1/class-mappings", headers=school.viewer)).json()["mappings"] == result
    # Creating a class for the intake by name works.
    r = await client.put(
        "/v1/class-mappings",
        json={"mappings": [{"mis_group_id": n1a["mis_group_id"], "class_id": None, "set_up": True}]},
        headers=h,
    )
    assert r.status_code == 200 and sum(1 for m in r.json()["mappings"] if not m["stale"]) == 32
