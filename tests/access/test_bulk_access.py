"""Bulk grant and revoke of access: by ids, by filter, 10,000 pupils in one call, refusals."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.models.base import utcnow
from app.pupils.derived import derived_columns
from tests.conftest import SchoolKeys, make_school
from tests.fixtures.servers import plain_dsn
from tests.helpers import assert_problem


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(plain_dsn(settings.database_url))
    yield conn
    await conn.close()


async def _add(client: httpx.AsyncClient, school: SchoolKeys, surname: str, **fields: object) -> str:
    r = await client.post(
        "/v1/pupils", json={"forename": "Pat", "surname": surname, **fields}, headers=school.coordinator
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _copy_pupils(db: asyncpg.Connection, school_id: str, n: int, sync_status: str, has_access: bool) -> None:
    """``n`` pupils straight into the table with COPY (the API is not what this test measures)."""
    now = utcnow()
    rows = []
    for i in range(n):
        forename, surname = f"Bulk{i:05d}", "Pupil"
        d = derived_columns(
            forename=forename, surname=surname, legal_forename=None, legal_surname=None, upn=None, year_group="Year 8"
        )
        rows.append(
            (
                uuid.uuid4(),
                uuid.UUID(school_id),
                forename,
                surname,
                "Year 8",
                d["year_rank"],
                d["sort_key"],
                d["search_text"],
                sync_status,
                has_access,
                f"mis-{uuid.uuid4().hex}" if sync_status != "manual" else None,
                now,
                now,
            )
        )
    await db.copy_records_to_table(
        "pupils",
        records=rows,
        columns=[
            "id",
            "school_id",
            "forename",
            "surname",
            "year_group",
            "year_rank",
            "sort_key",
            "search_text",
            "sync_status",
            "has_access",
            "mis_id",
            "created_at",
            "updated_at",
        ],
    )


async def _total(client: httpx.AsyncClient, school: SchoolKeys, query: str) -> int:
    r = await client.get(f"/v1/pupils?limit=1&{query}", headers=school.viewer)
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


async def test_by_ids_and_by_filter_with_audit(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    h = school.coordinator
    a = await _add(client, school, "Adams", year_group="Year 7")
    b = await _add(client, school, "Brown", year_group="Year 7", has_access=False)
    c = await _add(client, school, "Cole", year_group="Year 8")
    r = await client.post("/v1/pupils/revoke-access", json={"pupil_ids": [a, b, a]}, headers=h)
    assert r.status_code == 200 and r.json() == {"changed": 1}, r.text  # b had none already; a counted once
    r = await client.post("/v1/pupils/grant-access", json={"filter": {"year_group": "7"}}, headers=h)
    assert r.json() == {"changed": 2}
    r = await client.post("/v1/pupils/grant-access", json={"filter": {"year_group": "7"}}, headers=h)
    assert r.json() == {"changed": 0}
    r = await client.post("/v1/pupils/revoke-access", json={"filter": {"q": "cole"}}, headers=h)
    assert r.json() == {"changed": 1}
    assert await _total(client, school, "access=without") == 1
    got = (await client.get(f"/v1/pupils/{c}", headers=h)).json()
    assert got["has_access"] is False and got["updated_at"] > got["created_at"]
    events = (await client.get(f"/v1/audit-events?pupil_id={a}", headers=h)).json()["items"]
    actions = [e["action"] for e in events]
    assert actions[:2] == ["pupil.access_granted", "pupil.access_revoked"]
    assert events[0]["data"]["has_access"] == [False, True]


async def test_refusals_change_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys
) -> None:
    h = school.coordinator
    mine = await _add(client, school, "Mine")
    other = await make_school(client, admin_headers, name="Other School")
    theirs = await _add(client, other, "Theirs")
    for path in ("/v1/pupils/revoke-access", "/v1/pupils/grant-access"):
        # Another school's pupil is not found, and nothing at all changes.
        body = assert_problem(await client.post(path, json={"pupil_ids": [mine, theirs]}, headers=h), 404)
        assert body["missing_pupil_ids"] == [theirs]
        assert_problem(await client.post(path, json={"pupil_ids": [mine]}, headers=school.viewer), 403)
        assert_problem(await client.post(path, json={"pupil_ids": [mine]}), 401)
        assert_problem(await client.post(path, json={}, headers=h), 422)
        assert_problem(await client.post(path, json={"pupil_ids": [mine], "filter": {}}, headers=h), 422)
        assert_problem(await client.post(path, json={"pupil_ids": ["not-a-uuid"]}, headers=h), 422)
        assert_problem(await client.post(path, json={"filter": {"access": "maybe"}}, headers=h), 422)
        assert_problem(await client.post(path, json={"filter": {"year_group": "Year 99"}}, headers=h), 422)
        assert_problem(await client.post(path, json={"filter": {"colour": "red"}}, headers=h), 422)
    assert (await client.get(f"/v1/pupils/{mine}", headers=h)).json()["has_access"] is True
    assert (await client.get(f"/v1/pupils/{theirs}", headers=other.coordinator)).json()["has_access"] is True
    # A filter never reaches another school's pupils.
    r = await client.post("/v1/pupils/revoke-access", json={"filter": {}}, headers=h)
    assert r.json() == {"changed": 1}
    assert (await client.get(f"/v1/pupils/{theirs}", headers=other.coordinator)).json()["has_access"] is True


async def test_ten_thousand_pupils_in_one_call(
    client: httpx.AsyncClient, school: SchoolKeys, db: asyncpg.Connection
) -> None:
    h = school.coordinator
    await _copy_pupils(db, school.id, 10_000, "desynced", True)
    await _copy_pupils(db, school.id, 500, "synced", True)
    assert await _total(client, school, "sync_status=desynced&access=with") == 10_000

    started = time.perf_counter()
    r = await client.post(
        "/v1/pupils/revoke-access", json={"filter": {"sync_status": "desynced", "access": "with"}}, headers=h
    )
    elapsed = time.perf_counter() - started
    assert r.status_code == 200 and r.json() == {"changed": 10_000}, r.text
    assert elapsed < 10, elapsed  # about a second on a laptop
    assert await _total(client, school, "access=without") == 10_000
    assert await _total(client, school, "sync_status=synced&access=with") == 500
    audited = await db.fetchval(
        "SELECT count(*) FROM audit_events WHERE school_id = $1 AND action = 'pupil.access_revoked'",
        uuid.UUID(school.id),
    )
    assert audited == 10_000

    # By 10,000 ids too (one array parameter, not 10,000).
    rows = await db.fetch("SELECT id FROM pupils WHERE school_id = $1 AND NOT has_access", uuid.UUID(school.id))
    ids = [str(row["id"]) for row in rows]
    r = await client.post("/v1/pupils/grant-access", json={"pupil_ids": ids}, headers=h)
    assert r.json() == {"changed": 10_000}, r.text
    assert await _total(client, school, "access=without") == 0
    # And "add all of the above" to a class, with no paging limit.
    cls = (await client.post("/v1/classes", json={"name": "Everyone"}, headers=h)).json()
    r = await client.post(f"/v1/classes/{cls['id']}/pupils", json={"pupil_ids": ids}, headers=h)
    assert r.json() == {"added": 10_000}, r.text
