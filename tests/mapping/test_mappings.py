"""Class mapping through the API: map, create by name, unmap, swap, take over a stale group's class,
suggestions, and every refusal changing nothing. Groups are seeded as a fetch stores them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import SchoolKeys, make_school
from tests.helpers import assert_problem
from tests.mapping.conftest import Db

GROUPS: list[dict[str, Any]] = [
    {"id": "g-8a", "name": "8A", "year_group": "Year 8", "pupil_count": 28},
    {"id": "g-7b", "name": "7B", "year_group": "Year 7", "pupil_count": 30},
    {"id": "g-7a", "name": "7A", "year_group": "Year 7", "pupil_count": 29},
    {"id": "g-rx", "name": "RX", "year_group": "Reception", "pupil_count": 12},
    {"id": "g-old", "name": "6A", "year_group": "Year 6", "stale": True},
    {"id": "g-odd", "name": "Nurture", "year_group": None},
]


async def _class(client: httpx.AsyncClient, school: SchoolKeys, name: str) -> str:
    r = await client.post("/v1/classes", json={"name": name}, headers=school.coordinator)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _put(client: httpx.AsyncClient, school: SchoolKeys, *mappings: dict[str, Any]) -> httpx.Response:
    return await client.put("/v1/class-mappings", json={"mappings": list(mappings)}, headers=school.coordinator)


async def _groups(client: httpx.AsyncClient, school: SchoolKeys) -> dict[str, dict[str, Any]]:
    r = await client.get("/v1/mis/registration-groups?include_stale=true", headers=school.viewer)
    assert r.status_code == 200, r.text
    return {g["mis_group_id"]: g for g in r.json()["items"]}


async def _state(client: httpx.AsyncClient, school: SchoolKeys) -> tuple[Any, Any]:
    mappings = (await client.get("/v1/class-mappings", headers=school.viewer)).json()
    classes = (await client.get("/v1/classes", headers=school.viewer)).json()
    return mappings, classes


async def test_groups_list_order_and_shape(client: httpx.AsyncClient, school: SchoolKeys, db: Db) -> None:
    assert (await client.get("/v1/mis/registration-groups?include_stale=true", headers=school.viewer)).json() == {
        "items": [],
        "next_cursor": None,
        "total": 0,
    }
    await db.add_groups(school.id, GROUPS)
    body = (await client.get("/v1/mis/registration-groups?include_stale=true", headers=school.viewer)).json()
    assert [g["name"] for g in body["items"]] == ["RX", "7A", "7B", "8A", "Nurture", "6A"]
    assert body["total"] == 6 and body["next_cursor"] is None
    seven_a = body["items"][1]
    assert seven_a["mis_group_id"] == "g-7a" and seven_a["year_group"] == "Year 7" and seven_a["pupil_count"] == 29
    assert seven_a["class_id"] is None and seven_a["set_up"] is False and seven_a["suggested_class_id"] is None
    assert [g["stale"] for g in body["items"]] == [False] * 5 + [True]
    live = (await client.get("/v1/mis/registration-groups?limit=1000", headers=school.viewer)).json()
    assert [g["name"] for g in live["items"]] == ["RX", "7A", "7B", "8A", "Nurture"] and live["total"] == 5
    first = (await client.get("/v1/mis/registration-groups?limit=2", headers=school.viewer)).json()
    rest = (
        await client.get(f"/v1/mis/registration-groups?limit=2&cursor={first['next_cursor']}", headers=school.viewer)
    ).json()
    assert [g["name"] for g in first["items"] + rest["items"]] == ["RX", "7A", "7B", "8A"]
    assert_problem(await client.get("/v1/mis/registration-groups?limit=1000"), 401)


async def test_map_existing_create_by_name_and_unmap(client: httpx.AsyncClient, school: SchoolKeys, db: Db) -> None:
    await db.add_groups(school.id, GROUPS)
    tutor = await _class(client, school, "Mr Patel's form")
    seven_b = await _class(client, school, " 7b")  # reused by folded name, not duplicated
    r = await _put(
        client,
        school,
        {"mis_group_id": "g-7a", "class_id": tutor, "set_up": True},
        {"mis_group_id": "g-7b", "class_id": None, "set_up": True},
        {"mis_group_id": "g-8a", "class_id": None, "set_up": True},
        {"mis_group_id": "g-rx", "class_id": None, "set_up": False},  # not mapped: a no-op
    )
    assert r.status_code == 200, r.text
    mappings = r.json()["mappings"]
    assert [(m["mis_group_id"], m["class_name"], m["set_up"]) for m in mappings] == [
        ("g-7a", "Mr Patel's form", True),
        ("g-7b", "7b", True),
        ("g-8a", "8A", True),
    ]
    assert mappings[0] == {
        "mis_group_id": "g-7a",
        "class_id": tutor,
        "set_up": True,
        "class_name": "Mr Patel's form",
        "group_name": "7A",
        "year_group": "Year 7",
        "stale": False,
    }
    assert mappings[1]["class_id"] == seven_b
    assert (await client.get("/v1/class-mappings", headers=school.viewer)).json() == r.json()
    classes = {c["name"]: c for c in (await client.get("/v1/classes", headers=school.viewer)).json()["items"]}
    assert set(classes) == {"Mr Patel's form", "7b", "8A"}
    assert classes["8A"]["mis_group_id"] == "g-8a" and classes["8A"]["set_up"] is True
    groups = await _groups(client, school)
    assert groups["g-7a"]["class_id"] == tutor and groups["g-7a"]["class_name"] == "Mr Patel's form"
    assert groups["g-7a"]["set_up"] is True and groups["g-7a"]["suggested_class_id"] is None

    # Untick one, move another to a different class, unmap a third.
    spare = await _class(client, school, "Spare")
    r = await _put(
        client,
        school,
        {"mis_group_id": "g-7a", "class_id": tutor, "set_up": False},
        {"mis_group_id": "g-8a", "class_id": spare, "set_up": True},
        {"mis_group_id": "g-7b", "class_id": None, "set_up": False},
    )
    assert r.status_code == 200, r.text
    assert [(m["mis_group_id"], m["class_name"], m["set_up"]) for m in r.json()["mappings"]] == [
        ("g-7a", "Mr Patel's form", False),
        ("g-8a", "Spare", True),
    ]
    classes = {c["name"]: c for c in (await client.get("/v1/classes", headers=school.viewer)).json()["items"]}
    assert classes["8A"]["mis_group_id"] is None and classes["8A"]["set_up"] is False  # kept, never deleted
    assert classes["7b"]["mis_group_id"] is None

    audit = await db.audit_actions(school.id, "class.mapping_changed")
    assert len(audit) == 3 + 3 + 1  # three mapped, then 7A unticked, 8A moved (two classes), 7B unmapped
    assert {"entity_id": seven_b, "data": {"mis_group_id": ["g-7b", None], "set_up": [True, False]}} in audit
    created = await db.audit_actions(school.id, "class.created")
    assert len(created) == 4  # the three made here by hand and "8A" made for its group


async def test_groups_can_swap_classes_in_one_request(client: httpx.AsyncClient, school: SchoolKeys, db: Db) -> None:
    await db.add_groups(school.id, GROUPS)
    a, b = await _class(client, school, "Oak"), await _class(client, school, "Elm")
    assert (
        await _put(
            client,
            school,
            {"mis_group_id": "g-7a", "class_id": a, "set_up": True},
            {"mis_group_id": "g-7b", "class_id": b, "set_up": True},
        )
    ).status_code == 200
    r = await _put(
        client,
        school,
        {"mis_group_id": "g-7a", "class_id": b, "set_up": True},
        {"mis_group_id": "g-7b", "class_id": a, "set_up": False},
    )
    assert r.status_code == 200, r.text
    assert [(m["mis_group_id"], m["class_id"], m["set_up"]) for m in r.json()["mappings"]] == [
        ("g-7a", b, True),
        ("g-7b", a, False),
    ]


async def test_refusals_change_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys, db: Db
) -> None:
    await db.add_groups(school.id, GROUPS)
    oak, elm = await _class(client, school, "Oak"), await _class(client, school, "Elm")
    await _class(client, school, "Nurture")
    r = await _put(client, school, {"mis_group_id": "g-7a", "class_id": oak, "set_up": True})
    assert r.status_code == 200, r.text
    other = await make_school(client, admin_headers, name="Other School")
    foreign = await _class(client, other, "Foreign")
    before = await _state(client, school)

    # A group listed twice.
    body = assert_problem(
        await _put(
            client,
            school,
            {"mis_group_id": "g-7b", "class_id": elm, "set_up": True},
            {"mis_group_id": "g-7b", "class_id": None, "set_up": False},
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "mappings", 1, "mis_group_id"]
    # Unknown groups are named.
    body = assert_problem(
        await _put(
            client,
            school,
            {"mis_group_id": "g-7b", "class_id": elm, "set_up": True},
            {"mis_group_id": "nope", "class_id": None, "set_up": True},
        ),
        404,
    )
    assert body["missing_mis_group_ids"] == ["nope"] and "nope" in body["detail"]
    # Another school's class is not found, and not revealed.
    body = assert_problem(
        await _put(
            client,
            school,
            {"mis_group_id": "g-7b", "class_id": elm, "set_up": True},
            {"mis_group_id": "g-8a", "class_id": foreign, "set_up": True},
        ),
        404,
    )
    assert body["missing_class_ids"] == [foreign]
    # Two mappings claim one class: explicitly, or one explicitly and one by the group's name.
    body = assert_problem(
        await _put(
            client,
            school,
            {"mis_group_id": "g-7b", "class_id": elm, "set_up": True},
            {"mis_group_id": "g-8a", "class_id": elm, "set_up": False},
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "mappings", 1, "class_id"]
    nurture = next(c["id"] for c in before[1]["items"] if c["name"] == "Nurture")
    assert_problem(
        await _put(
            client,
            school,
            {"mis_group_id": "g-7b", "class_id": nurture, "set_up": True},
            {"mis_group_id": "g-odd", "class_id": None, "set_up": True},
        ),
        422,
    )
    # A class mapped to another live group (chosen, or named after the group).
    body = assert_problem(
        await _put(
            client,
            school,
            {"mis_group_id": "g-rx", "class_id": None, "set_up": True},  # would create "RX"
            {"mis_group_id": "g-7b", "class_id": oak, "set_up": True},
        ),
        409,
    )
    assert body["conflicts"] == [
        {
            "mis_group_id": "g-7b",
            "class_id": oak,
            "reason": "class_mapped_to_live_group",
            "mapped_mis_group_id": "g-7a",
        }
    ]
    # A stale group cannot take a new class, or have one made for it.
    assert_problem(await _put(client, school, {"mis_group_id": "g-old", "class_id": elm, "set_up": True}), 409)
    assert_problem(await _put(client, school, {"mis_group_id": "g-old", "class_id": None, "set_up": True}), 409)
    # Malformed bodies.
    assert_problem(await _put(client, school, {"mis_group_id": "g-7b", "class_id": elm}), 422)
    assert_problem(await _put(client, school, {"mis_group_id": "g-7b", "set_up": True, "class": elm}), 422)
    assert_problem(await _put(client, school, {"mis_group_id": "", "set_up": True}), 422)
    # A viewer may read but not change.
    r = await client.put(
        "/v1/class-mappings",
        json={"mappings": [{"mis_group_id": "g-7b", "class_id": elm, "set_up": True}]},
        headers=school.viewer,
    )
    assert_problem(r, 403)

    assert await _state(client, school) == before
    assert len(await db.audit_actions(school.id, "class.mapping_changed")) == 1
    # The other school saw nothing either.
    assert (await client.get("/v1/class-mappings", headers=other.viewer)).json() == {"mappings": []}


async def test_a_live_group_takes_over_a_class_whose_group_went_stale(
    client: httpx.AsyncClient, school: SchoolKeys, db: Db
) -> None:
    await db.add_groups(school.id, [{"id": "old-7a", "name": "7A", "year_group": "Year 7"}])
    r = await _put(client, school, {"mis_group_id": "old-7a", "class_id": None, "set_up": True})
    seven_a = r.json()["mappings"][0]["class_id"]
    await db.conn.execute("UPDATE mis_registration_groups SET stale = true WHERE mis_group_id = 'old-7a'")
    await db.add_groups(school.id, [{"id": "new-8a", "name": "8A", "year_group": "Year 8", "lineage": seven_a}])
    mappings = (await client.get("/v1/class-mappings", headers=school.viewer)).json()["mappings"]
    assert [(m["mis_group_id"], m["stale"]) for m in mappings] == [("old-7a", True)]
    # Round-tripping a stale group's mapping is allowed (it keeps its class).
    assert (await _put(client, school, {"mis_group_id": "old-7a", "class_id": seven_a, "set_up": False})).is_success
    groups = await _groups(client, school)
    assert groups["new-8a"]["suggested_class_id"] == seven_a and groups["new-8a"]["suggested_by"] == "lineage"

    r = await _put(client, school, {"mis_group_id": "new-8a", "class_id": seven_a, "set_up": True})
    assert r.status_code == 200, r.text
    assert [(m["mis_group_id"], m["class_id"], m["stale"]) for m in r.json()["mappings"]] == [
        ("new-8a", seven_a, False)
    ]
    groups = await _groups(client, school)
    assert groups["old-7a"]["class_id"] is None and groups["old-7a"]["stale"] is True
    assert groups["new-8a"]["class_id"] == seven_a and groups["new-8a"]["suggested_class_id"] is None


async def test_suggestions_name_first_then_lineage(client: httpx.AsyncClient, school: SchoolKeys, db: Db) -> None:
    oak = await _class(client, school, "Oak")
    elm = await _class(client, school, "Elm")
    ash = await _class(client, school, "Ash")
    seven_a = await _class(client, school, " 7a ")
    eight_a = await _class(client, school, "8A")
    await db.add_groups(
        school.id,
        [
            {"id": "g-7a", "name": "7A ", "year_group": "Year 7", "lineage": oak},  # name beats lineage
            {"id": "g-8a", "name": "8a", "year_group": "Year 8"},  # name, but its class holds a live group
            {"id": "g-9a", "name": "9A", "year_group": "Year 9", "lineage": elm},  # lineage
            {"id": "g-9b", "name": "9B", "year_group": "Year 9", "lineage": seven_a},  # 7a suggested already
            {"id": "g-9c", "name": "9C", "year_group": "Year 9", "lineage": ash},  # Ash holds a live group
            {"id": "g-10a", "name": "10A", "year_group": "Year 10"},
            {"id": "g-old", "name": "Old", "year_group": "Year 10", "stale": True},
        ],
    )
    r = await _put(
        client,
        school,
        {"mis_group_id": "g-10a", "class_id": eight_a, "set_up": True},
        {"mis_group_id": "g-old", "class_id": None, "set_up": False},
    )
    assert r.status_code == 200
    # Elm holds a stale group: it can still be suggested.
    await db.conn.execute("UPDATE classes SET mis_group_id = 'g-old' WHERE id = $1", uuid.UUID(elm))
    assert (await _put(client, school, {"mis_group_id": "g-9c", "class_id": ash, "set_up": True})).is_success
    groups = await _groups(client, school)
    got = {gid: (g["suggested_class_id"], g["suggested_by"]) for gid, g in groups.items()}
    assert got == {
        "g-7a": (seven_a, "name"),
        "g-8a": (None, None),
        "g-9a": (elm, "lineage"),
        "g-9b": (None, None),
        "g-9c": (None, None),  # mapped itself
        "g-10a": (None, None),
        "g-old": (None, None),
    }
    # Every suggestion accepted at once is a valid request.
    accept = [
        {"mis_group_id": gid, "class_id": g["suggested_class_id"], "set_up": True}
        for gid, g in groups.items()
        if g["suggested_class_id"]
    ]
    assert (await _put(client, school, *accept)).status_code == 200
