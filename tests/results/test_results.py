"""Recording results in batches (all or nothing, per-item errors), a pupil's results, suites,
marksheets and the year-group report."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from tests.conftest import SchoolKeys, make_school
from tests.helpers import assert_problem
from tests.results.conftest import Db, add_pupil, record, visible


async def test_batch_is_recorded_with_the_year_group_at_the_time(
    client: httpx.AsyncClient, school: SchoolKeys, db: Db
) -> None:
    p = await add_pupil(client, school, "Ada", "Lovelace", year_group="7")
    ids = await record(
        client,
        school,
        (p, "pte", "2025-09-20", {"raw": 30, "sas": 104.5}),
        (p, "PTM", "2025-09-21", {"sas": 98}),
    )
    assert len(set(ids)) == 2
    await client.patch(f"/v1/pupils/{p}", json={"year_group": "8"}, headers=school.coordinator)
    await record(client, school, (p, "PTE", "2026-09-20", {"sas": 110}))
    r = await client.get(f"/v1/pupils/{p}/results", headers=school.viewer)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(i["suite"], i["taken_on"], i["year_group"]) for i in items] == [
        ("PTE", "2025-09-20", "Year 7"),
        ("PTM", "2025-09-21", "Year 7"),
        ("PTE", "2026-09-20", "Year 8"),
    ]
    assert items[0]["id"] == ids[0] and items[0]["score"] == {"raw": 30, "sas": 104.5}
    assert r.json()["total"] == 3
    only_pte = await client.get(f"/v1/pupils/{p}/results", params={"suite": "pte"}, headers=school.viewer)
    assert [i["suite"] for i in only_pte.json()["items"]] == ["PTE", "PTE"]
    audit = await db.audit(school.id, "results.recorded")
    assert [a["data"] for a in audit] == [
        {"created": 2, "suites": {"PTE": 1, "PTM": 1}},
        {"created": 1, "suites": {"PTE": 1}},
    ]


async def test_invalid_items_are_listed_and_nothing_is_recorded(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys, db: Db
) -> None:
    p = await add_pupil(client, school, "Ada", "Lovelace")
    other = await make_school(client, admin_headers, name="Other School")
    theirs = await add_pupil(client, other, "Alan", "Turing")
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    unknown = "00000000-0000-4000-8000-000000000000"
    items = [
        {"pupil_id": p, "suite": "PTE", "taken_on": "2025-01-10", "score": {"sas": 100}},  # fine
        {"pupil_id": theirs, "suite": "PTE", "taken_on": "2025-01-10", "score": {"sas": 100}},
        {"pupil_id": unknown, "suite": "PTE", "taken_on": "2025-01-10", "score": {"sas": 100}},
        {"pupil_id": p, "suite": "XYZ", "taken_on": "2025-01-10", "score": {"sas": 100}},
        {"pupil_id": p, "suite": "PTM", "taken_on": tomorrow, "score": {"sas": 100}},
        {"pupil_id": p, "suite": "pte", "taken_on": "2025-01-10", "score": {"sas": 99}},  # same as item 0
    ]
    body = assert_problem(await client.post("/v1/results", json={"items": items}, headers=school.coordinator), 422)
    errors = {tuple(e["loc"]): e["msg"] for e in body["errors"]}
    # Another school's pupil is reported exactly like an id that does not exist.
    assert (
        errors[("body", "items", 1, "pupil_id")] == errors[("body", "items", 2, "pupil_id")] == "no pupil with this id"
    )
    assert "unknown suite 'XYZ'" in errors[("body", "items", 3, "suite")]
    assert "future" in errors[("body", "items", 4, "taken_on")]
    assert "item 0" in errors[("body", "items", 5)]
    assert not any(loc[2] == 0 for loc in errors)
    assert body["detail"].startswith("5 of 6 items are invalid")
    assert await db.results(school.id) == [] and await db.results(other.id) == []

    # Shapes are checked item by item too, with the item's position.
    bad_shapes = [
        {"pupil_id": p, "suite": "PTE", "taken_on": "2025-01-10", "score": {}},
        {"pupil_id": p, "suite": "PTE", "taken_on": "2025-01-11", "score": {"notes": "x" * 2000}},
        {"pupil_id": p, "suite": "PTE", "taken_on": "2025-01-12", "score": {"a": {"b": {"c": {"d": 1}}}}},
        {"pupil_id": p, "suite": "PTE", "taken_on": "2025-01-13", "score": {"sas": "high"}},
        {"pupil_id": p, "suite": "P T E!", "taken_on": "2025-01-14", "score": {"sas": 100}},
        {"pupil_id": p, "suite": "PTE", "taken_on": "2025-01-15", "score": [1, 2]},
        {"pupil_id": p, "suite": "PTE", "taken_on": "2025-01-16", "score": {"sas": 100}, "extra": 1},
    ]
    body = assert_problem(await client.post("/v1/results", json={"items": bad_shapes}, headers=school.coordinator), 422)
    assert {e["loc"][2] for e in body["errors"]} == set(range(len(bad_shapes)))
    assert all(e["loc"][:2] == ["body", "items"] for e in body["errors"])
    assert await db.results(school.id) == []

    # A retried batch does not count twice.
    await record(client, school, (p, "PTE", "2025-01-10", {"sas": 100}))
    again = assert_problem(
        await client.post("/v1/results", json={"items": [items[0]]}, headers=school.coordinator), 422
    )
    assert "already recorded" in again["errors"][0]["msg"]
    assert len(await db.results(school.id)) == 1


async def test_batch_limits_and_roles(client: httpx.AsyncClient, school: SchoolKeys, db: Db) -> None:
    p = await add_pupil(client, school, "Ada", "Lovelace", year_group="4")
    start = date(1990, 1, 1)
    items = [
        {"pupil_id": p, "suite": "PTE", "taken_on": (start + timedelta(days=n)).isoformat(), "score": {"sas": 100}}
        for n in range(10_001)
    ]
    assert_problem(await client.post("/v1/results", json={"items": items}, headers=school.coordinator), 422)
    assert_problem(await client.post("/v1/results", json={"items": []}, headers=school.coordinator), 422)
    assert_problem(await client.post("/v1/results", json={"items": items[:1]}, headers=school.viewer), 403)
    r = await client.post("/v1/results", json={"items": items[:10_000]}, headers=school.coordinator)
    assert r.status_code == 201, r.text
    assert r.json()["created"] == 10_000 and len(r.json()["ids"]) == 10_000
    rows = await db.results(school.id)
    assert len(rows) == 10_000 and {r["year_group"] for r in rows} == {"Year 4"}


async def test_pupil_results_are_the_schools_own(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys
) -> None:
    p = await add_pupil(client, school, "Ada", "Lovelace")
    await record(client, school, (p, "PTE", "2025-01-10", {"sas": 100}))
    other = await make_school(client, admin_headers, name="Other School")
    assert_problem(await client.get(f"/v1/pupils/{p}/results", headers=other.viewer), 404)
    assert_problem(await client.get(f"/v1/pupils/{p}/results", params={"suite": "NOPE"}, headers=school.viewer), 422)
    # A pupil without access keeps their results (hidden learners keep their data).
    await client.patch(f"/v1/pupils/{p}", json={"has_access": False}, headers=school.coordinator)
    assert await visible(client, school, p) == [("PTE", "2025-01-10")]


async def test_suites_can_be_added_per_school(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys, db: Db
) -> None:
    r = await client.get("/v1/suites", headers=school.viewer)
    codes = [s["code"] for s in r.json()["items"]]
    assert codes == ["PTE", "PTM", "PTS", "NGRT", "NGST", "CAT4", "ART", "AMT"]
    r = await client.post("/v1/suites", json={"code": "ks2-sats", "name": "KS2 SATs"}, headers=school.coordinator)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "code": "KS2-SATS",
        "name": "KS2 SATs",
        "common": False,
        "retention_years": 2,
        "default_years": 2,
    }
    assert_problem(await client.post("/v1/suites", json={"code": "KS2-SATS"}, headers=school.coordinator), 409)
    assert_problem(await client.post("/v1/suites", json={"code": "pte"}, headers=school.coordinator), 409)
    assert_problem(await client.post("/v1/suites", json={"code": "X"}, headers=school.viewer), 403)
    p = await add_pupil(client, school, "Ada", "Lovelace")
    await record(client, school, (p, "ks2-sats", "2025-05-12", {"scaled": 104}))
    # The suite is this school's only.
    other = await make_school(client, admin_headers, name="Other School")
    q = await add_pupil(client, other, "Alan", "Turing")
    body = assert_problem(
        await client.post(
            "/v1/results",
            json={"items": [{"pupil_id": q, "suite": "KS2-SATS", "taken_on": "2025-05-12", "score": {"x": 1}}]},
            headers=other.coordinator,
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "items", 0, "suite"]
    assert [a["data"]["retention_years"] for a in await db.audit(school.id, "suite.created")] == [2]


async def test_marksheet_lists_pupils_with_access_in_class_order(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys
) -> None:
    h = school.coordinator
    cls = (await client.post("/v1/classes", json={"name": "7A"}, headers=h)).json()["id"]
    zed = await add_pupil(client, school, "Zed", "Adams", class_ids=[cls], year_group="7")
    emile = await add_pupil(client, school, "Émile", "zola", class_ids=[cls], year_group="7")
    anna = await add_pupil(client, school, "Anna", "Zola", class_ids=[cls], year_group="7")
    hidden = await add_pupil(client, school, "Hidden", "Bell", class_ids=[cls], year_group="7", has_access=False)
    elsewhere = await add_pupil(client, school, "Other", "Class", year_group="7")
    await record(
        client,
        school,
        (zed, "PTE", "2025-09-20", {"sas": 100}),
        (zed, "PTM", "2025-09-20", {"sas": 90}),
        (anna, "PTE", "2025-09-21", {"sas": 120}),
        (hidden, "PTE", "2025-09-20", {"sas": 70}),
        (elsewhere, "PTE", "2025-09-20", {"sas": 130}),
    )
    r = await client.get(f"/v1/classes/{cls}/marksheet", params={"suite": "pte"}, headers=school.viewer)
    assert r.status_code == 200, r.text
    sheet = r.json()
    assert sheet["class_name"] == "7A" and sheet["suite"] == "PTE"
    assert [row["pupil_id"] for row in sheet["pupils"]] == [zed, anna, emile]  # Adams, Zola Anna, Zola Émile
    assert [[x["score"]["sas"] for x in row["results"]] for row in sheet["pupils"]] == [[100], [120], []]
    every = (await client.get(f"/v1/classes/{cls}/marksheet", headers=school.viewer)).json()
    assert [x["suite"] for x in every["pupils"][0]["results"]] == ["PTE", "PTM"] and every["suite"] is None
    assert_problem(await client.get(f"/v1/classes/{cls}/marksheet", params={"suite": "ZZZ"}, headers=h), 422)
    other = await make_school(client, admin_headers, name="Other School")
    assert_problem(await client.get(f"/v1/classes/{cls}/marksheet", headers=other.viewer), 404)


async def test_year_group_report_counts_and_means_pupils_with_access(
    client: httpx.AsyncClient, school: SchoolKeys
) -> None:
    a = await add_pupil(client, school, "A", "One", year_group="7")
    b = await add_pupil(client, school, "B", "Two", year_group="7")
    c = await add_pupil(client, school, "C", "Three", year_group="Reception")
    hidden = await add_pupil(client, school, "H", "Hidden", year_group="7", has_access=False)
    await record(
        client,
        school,
        (a, "PTE", "2025-09-20", {"sas": 100}),
        (b, "PTE", "2025-09-20", {"sas": 111}),
        (b, "PTE", "2024-09-20", {"raw": 12}),  # no standard score: counted, not averaged
        (c, "PTE", "2025-09-20", {"sas": 95}),
        (c, "PTM", "2025-09-20", {"sas": 105}),
        (hidden, "PTE", "2025-09-20", {"sas": 60}),
    )
    r = await client.get("/v1/reports/year-groups", headers=school.viewer)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [
        {
            "suite": "PTE",
            "year_group": "Reception",
            "results": 1,
            "pupils": 1,
            "scored": 1,
            "mean_standard_score": 95.0,
        },
        {"suite": "PTE", "year_group": "Year 7", "results": 3, "pupils": 2, "scored": 2, "mean_standard_score": 105.5},
        {
            "suite": "PTM",
            "year_group": "Reception",
            "results": 1,
            "pupils": 1,
            "scored": 1,
            "mean_standard_score": 105.0,
        },
    ]
    r = await client.get(
        "/v1/reports/year-groups", params={"suite": "PTE", "taken_from": "2025-01-01"}, headers=school.viewer
    )
    assert [(i["year_group"], i["results"]) for i in r.json()["items"]] == [("Reception", 1), ("Year 7", 2)]
