"""Retention: the policy, the due list, and runs at chosen dates (the ``as_of`` clock) that anonymise
exactly the results the rule names: each boundary, a learner active in another suite, idempotency, and
anonymised data gone from every school view."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import asyncpg
import httpx
import pytest

from app.retention.rules import anniversary, due_on, is_due
from tests.conftest import SchoolKeys, make_school
from tests.helpers import assert_problem
from tests.results.conftest import Db, add_pupil, record, run_retention, visible

S = {"sas": 100}


@pytest.mark.parametrize(
    ("last", "years", "due"),
    [
        (date(2021, 3, 10), 2, date(2023, 3, 11)),
        (date(2021, 3, 10), 3, date(2024, 3, 11)),
        (date(2020, 2, 29), 2, date(2022, 3, 1)),  # leap day: anniversary 28 February
        (date(2020, 2, 29), 4, date(2024, 3, 1)),  # ... and 29 February in a leap year
        (date(2022, 2, 28), 2, date(2024, 2, 29)),
        (date(2021, 12, 31), 2, date(2024, 1, 1)),
    ],
)
def test_due_dates(last: date, years: int, due: date) -> None:
    assert due_on(last, years) == due
    assert not is_due(last, years, due - timedelta(days=1))
    assert is_due(last, years, due)
    assert anniversary(last, years) == due - timedelta(days=1)


async def test_policy_defaults_and_audited_changes(client: httpx.AsyncClient, school: SchoolKeys, db: Db) -> None:
    r = await client.get("/v1/retention/policy", headers=school.viewer)
    assert r.status_code == 200
    periods = {s["suite"]: s["retention_years"] for s in r.json()["suites"]}
    assert periods == {"PTE": 2, "PTM": 2, "PTS": 2, "NGRT": 2, "NGST": 2, "CAT4": 2, "ART": 3, "AMT": 3}
    assert "older than" in r.json()["rule"]
    h = school.coordinator
    r = await client.patch(
        "/v1/retention/policy",
        json={"suites": [{"suite": "pte", "retention_years": 5}, {"suite": "ART", "retention_years": 3}]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert {s["suite"]: s["retention_years"] for s in r.json()["suites"]}["PTE"] == 5
    r = await client.patch(
        "/v1/retention/policy", json={"suites": [{"suite": "PTE", "retention_years": None}]}, headers=h
    )
    assert {s["suite"]: s["retention_years"] for s in r.json()["suites"]}["PTE"] == 2
    assert [a["data"] for a in await db.audit(school.id, "retention.policy_changed")] == [
        {"changes": {"PTE": [2, 5]}},
        {"changes": {"PTE": [5, 2]}},
    ]
    bad = assert_problem(
        await client.patch(
            "/v1/retention/policy",
            json={"suites": [{"suite": "PTM", "retention_years": 4}, {"suite": "NOPE", "retention_years": 4}]},
            headers=h,
        ),
        422,
    )
    assert bad["errors"][0]["loc"] == ["body", "suites", 1, "suite"]
    assert_problem(
        await client.patch(
            "/v1/retention/policy", json={"suites": [{"suite": "PTM", "retention_years": 0}]}, headers=h
        ),
        422,
    )
    assert_problem(
        await client.patch(
            "/v1/retention/policy", json={"suites": [{"suite": "PTM", "retention_years": 4}]}, headers=school.viewer
        ),
        403,
    )
    periods = {
        s["suite"]: s["retention_years"] for s in (await client.get("/v1/retention/policy", headers=h)).json()["suites"]
    }
    assert periods["PTM"] == 2


async def test_run_needs_the_operator_and_a_date_not_in_the_future(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys
) -> None:
    assert_problem(await client.post("/v1/admin/retention/run", json={}), 401)
    assert_problem(await client.post("/v1/admin/retention/run", json={}, headers=school.coordinator), 403)
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    body = assert_problem(
        await client.post("/v1/admin/retention/run", json={"as_of": tomorrow}, headers=admin_headers), 422
    )
    assert body["errors"][0]["loc"] == ["body", "as_of"]
    assert_problem(await client.post("/v1/admin/retention/run", json={"as_of": "x"}, headers=admin_headers), 422)


async def test_two_and_three_year_boundaries(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys, db: Db
) -> None:
    pte = await add_pupil(client, school, "Two", "Years", year_group="5")
    art = await add_pupil(client, school, "Three", "Years", year_group="5")
    leap = await add_pupil(client, school, "Leap", "Day", year_group="5")
    await record(
        client,
        school,
        (pte, "PTE", "2011-03-10", S),
        (art, "ART", "2011-03-10", S),
        (leap, "PTM", "2012-02-29", S),
    )
    # The due list names each (pupil, suite) with the first day of anonymisation.
    r = await client.get("/v1/retention/due", params={"within_days": 0}, headers=school.viewer)
    assert r.status_code == 200, r.text
    due = {(i["pupil_id"], i["suite"]): i["due_on"] for i in r.json()["items"]}
    assert due == {(pte, "PTE"): "2013-03-11", (leap, "PTM"): "2014-03-01", (art, "ART"): "2014-03-11"}
    assert [i["due_on"] for i in r.json()["items"]] == sorted(due.values())

    await run_retention(client, admin_headers, "2013-03-10")  # the day before two years are up
    assert await visible(client, school, pte) == [("PTE", "2011-03-10")]
    await run_retention(client, admin_headers, "2013-03-11")  # the day after
    assert await visible(client, school, pte) == []
    assert await visible(client, school, art) == [("ART", "2011-03-10")]

    await run_retention(client, admin_headers, "2014-02-28")  # 29 Feb 2012 + 2 years = 28 Feb 2014
    assert await visible(client, school, leap) == [("PTM", "2012-02-29")]
    await run_retention(client, admin_headers, "2014-03-01")
    assert await visible(client, school, leap) == []

    await run_retention(client, admin_headers, "2014-03-10")  # the day before three years are up
    assert await visible(client, school, art) == [("ART", "2011-03-10")]
    await run_retention(client, admin_headers, "2014-03-11")  # the day after
    assert await visible(client, school, art) == []

    rows = await db.results(school.id)
    assert all(r["pupil_id"] is None and r["anonymised_at"] and r["anon_token"] for r in rows)
    # Suite, date, score and year group at the time are kept for statistics.
    assert sorted((r["suite"], r["taken_on"].isoformat(), r["year_group"]) for r in rows) == [
        ("ART", "2011-03-10", "Year 5"),
        ("PTE", "2011-03-10", "Year 5"),
        ("PTM", "2012-02-29", "Year 5"),
    ]
    assert len({r["anon_token"] for r in rows}) == 3  # one learner each
    assert all(r["anon_token"] not in (uuid.UUID(pte), uuid.UUID(art), uuid.UUID(leap)) for r in rows)
    events = await db.events(school.id)
    assert [e["data"] for e in events] == [
        {"as_of": "2013-03-11", "results": 1, "learners": 1, "suites": {"PTE": 1}},
        {"as_of": "2014-03-01", "results": 1, "learners": 1, "suites": {"PTM": 1}},
        {"as_of": "2014-03-11", "results": 1, "learners": 1, "suites": {"ART": 1}},
    ]
    audit = await db.audit(school.id, "results.anonymised")
    assert [a["data"] for a in audit] == [e["data"] for e in events]
    assert {a["actor"] for a in audit} == {"operator"}
    assert (await client.get("/v1/retention/due", params={"within_days": 0}, headers=school.viewer)).json()[
        "items"
    ] == []


async def test_a_learner_tested_recently_in_another_suite_keeps_everything(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys, db: Db
) -> None:
    p = await add_pupil(client, school, "Still", "Active")
    await record(client, school, (p, "PTE", "2010-01-10", S), (p, "PTM", "2011-06-01", S))
    await run_retention(client, admin_headers, "2012-01-11")  # PTE is old, but the learner is not
    assert await visible(client, school, p) == [("PTE", "2010-01-10"), ("PTM", "2011-06-01")]
    await run_retention(client, admin_headers, "2013-06-01")
    assert len(await visible(client, school, p)) == 2
    await run_retention(client, admin_headers, "2013-06-02")
    assert await visible(client, school, p) == []
    rows = await db.results(school.id)
    assert len({r["anon_token"] for r in rows}) == 1 and rows[0]["anon_token"] is not None


async def test_longer_periods_share_the_learners_token_then_forget_it(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys, db: Db
) -> None:
    p = await add_pupil(client, school, "Two", "Stages")
    await record(client, school, (p, "PTE", "2008-01-10", S), (p, "AMT", "2008-01-10", S), (p, "PTS", "2007-06-01", S))
    out = await run_retention(client, admin_headers, "2010-01-11")
    assert out["results_anonymised"] >= 2
    assert await visible(client, school, p) == [("AMT", "2008-01-10")]
    assert await db.token_pairs([p]) == 1  # kept while the AMT result is still the learner's
    await run_retention(client, admin_headers, "2011-01-11")
    assert await visible(client, school, p) == []
    rows = await db.results(school.id)
    assert len(rows) == 3 and len({r["anon_token"] for r in rows}) == 1
    assert await db.token_pairs([p]) == 0  # nothing links the token to the pupil any more
    events = await db.events(school.id)
    assert [e["data"]["suites"] for e in events] == [{"PTE": 1, "PTS": 1}, {"AMT": 1}]
    assert all("Two" not in str(e) and p not in str(e) for e in events)


async def test_runs_are_idempotent_and_anonymised_data_is_invisible(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys, db: Db
) -> None:
    h = school.coordinator
    cls = (await client.post("/v1/classes", json={"name": "9Z"}, headers=h)).json()["id"]
    old = await add_pupil(client, school, "Old", "Learner", class_ids=[cls], year_group="9")
    new = await add_pupil(client, school, "New", "Learner", class_ids=[cls], year_group="9")
    await record(client, school, (old, "PTE", "2009-09-01", {"sas": 80}), (new, "PTE", "2011-09-01", {"sas": 120}))
    await run_retention(client, admin_headers, "2012-01-01")
    before = await db.results(school.id)
    anonymised = [r for r in before if r["anonymised_at"] is not None]
    assert len(anonymised) == 1
    again = await run_retention(client, admin_headers, "2012-01-01")
    assert await db.results(school.id) == before
    assert len(await db.events(school.id)) == 1 and len(await db.audit(school.id, "results.anonymised")) == 1
    assert again["results_anonymised"] == 0 and again["learners_anonymised"] == 0

    assert await visible(client, school, old) == []
    sheet = (await client.get(f"/v1/classes/{cls}/marksheet", params={"suite": "PTE"}, headers=h)).json()
    assert {row["pupil_id"]: len(row["results"]) for row in sheet["pupils"]} == {old: 0, new: 1}
    report = (await client.get("/v1/reports/year-groups", headers=h)).json()["items"]
    assert report == [
        {"suite": "PTE", "year_group": "Year 9", "results": 1, "pupils": 1, "scored": 1, "mean_standard_score": 120.0}
    ]
    # The pupil is still there (only test data is anonymised). Pending deletion and restore change nothing
    # in the anonymised rows; a purge deletes linked results only.
    assert (await client.get(f"/v1/pupils/{old}", headers=h)).status_code == 200
    await record(client, school, (old, "PTM", "2011-12-01", {"sas": 99}))
    assert (await client.delete(f"/v1/pupils/{old}", headers=h)).status_code == 200
    assert (await client.post(f"/v1/pupils/{old}/restore", headers=h)).status_code == 200
    assert [r for r in await db.results(school.id) if r["anonymised_at"]] == anonymised
    assert (await client.delete(f"/v1/pupils/{old}", params={"immediate": "true"}, headers=h)).status_code == 204
    after = await db.results(school.id)
    assert [r for r in after if r["anonymised_at"]] == anonymised
    assert {r["suite"] for r in after if r["anonymised_at"] is None} == {"PTE"}  # the new pupil's; PTM purged


async def test_anonymised_rows_cannot_be_changed(
    school: SchoolKeys, db: Db, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    p = await add_pupil(client, school, "Frozen", "Row")
    [rid] = await record(client, school, (p, "NGRT", "2005-01-01", S))
    await run_retention(client, admin_headers, "2008-01-01")
    assert (await db.result(rid))["pupil_id"] is None
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await db.conn.execute(
            "UPDATE results SET pupil_id = $1, anon_token = NULL, anonymised_at = NULL WHERE id = $2",
            uuid.UUID(p),
            uuid.UUID(rid),
        )
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await db.conn.execute("UPDATE results SET score = '{}' WHERE id = $1", uuid.UUID(rid))


async def test_due_list_pages_and_policy_changes_move_dates(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys
) -> None:
    today = date.today()
    soon = anniversary(today, -2) + timedelta(days=5)  # due in about 6 days
    pupils = [await add_pupil(client, school, f"P{n}", f"Surname{n:02d}") for n in range(5)]
    await record(client, school, *[(p, "PTE", soon.isoformat(), S) for p in pupils])
    await record(client, school, (pupils[0], "CAT4", soon.isoformat(), S))
    h = school.viewer
    assert (await client.get("/v1/retention/due", params={"within_days": 2}, headers=h)).json()["items"] == []
    seen = []
    cursor = None
    while True:
        params: dict[str, object] = {"within_days": 30, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/retention/due", params=params, headers=h)).json()
        seen.extend((i["surname"], i["suite"], i["due_on"]) for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected_due = due_on(soon, 2).isoformat()
    assert seen == [("Surname00", "CAT4", expected_due), ("Surname00", "PTE", expected_due)] + [
        (f"Surname{n:02d}", "PTE", expected_due) for n in range(1, 5)
    ]
    await client.patch(
        "/v1/retention/policy", json={"suites": [{"suite": "CAT4", "retention_years": 3}]}, headers=school.coordinator
    )
    items = (await client.get("/v1/retention/due", params={"within_days": 30}, headers=h)).json()["items"]
    assert ("CAT4" not in {i["suite"] for i in items}) and len(items) == 5
    assert_problem(await client.get("/v1/retention/due", params={"within_days": -1}, headers=h), 422)


async def test_schools_do_not_see_each_others_due_lists(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys
) -> None:
    p = await add_pupil(client, school, "Mine", "Only")
    await record(client, school, (p, "PTE", "2001-01-01", S))
    other = await make_school(client, admin_headers, name="Other School")
    assert (await client.get("/v1/retention/due", headers=other.viewer)).json()["items"] == []
    mine = (await client.get("/v1/retention/due", headers=school.viewer)).json()["items"]
    assert [i["pupil_id"] for i in mine] == [p]
