"""Deleting learners: pending deletion (hidden, restorable), restore, immediate purge, and the purge when
the time comes, with a controllable clock (``purge_due(session, as_of)``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import SQLModel

from app.config import Settings
from app.models import Pupil  # importing app.models registers every table
from app.pupils.deletion import purge_due
from tests.conftest import SchoolKeys, make_school
from tests.fixtures.servers import plain_dsn
from tests.helpers import assert_problem


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(plain_dsn(settings.database_url))
    yield conn
    await conn.close()


async def _purge_due(app: FastAPI, as_of: datetime) -> int:
    """What the daily job (and the operator's retention run) does, at ``as_of``."""
    async with app.state.session_factory() as session:
        purged = await purge_due(session, as_of)
        await session.commit()
    return purged


async def _setup(client: httpx.AsyncClient, school: SchoolKeys) -> tuple[dict[str, object], dict[str, object]]:
    h = school.coordinator
    cls = (await client.post("/v1/classes", json={"name": "5K"}, headers=h)).json()
    r = await client.post(
        "/v1/pupils",
        json={"forename": "Zoë", "surname": "Leaving", "upn": "A123456789012", "class_ids": [cls["id"]]},
        headers=h,
    )
    assert r.status_code == 201, r.text
    return r.json(), cls


async def test_delete_restore_and_purge_with_a_clock(
    client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str], school: SchoolKeys, db: asyncpg.Connection
) -> None:
    h = school.coordinator
    pupil, cls = await _setup(client, school)
    pid = pupil["id"]
    stays = (await client.post("/v1/pupils", json={"forename": "Sam", "surname": "Stays"}, headers=h)).json()

    r = await client.delete(f"/v1/pupils/{pid}", headers=h)
    assert r.status_code == 200, r.text
    pending = r.json()
    until = datetime.fromisoformat(pending["pending_deletion_until"])
    now = datetime.fromisoformat(pending["updated_at"])
    assert until - now == timedelta(days=180)
    assert pending["updated_at"] > pupil["updated_at"] and pending["class_ids"] == [cls["id"]]
    # Hidden from lists, filters, class lists and counts; still readable by id.
    assert [p["id"] for p in (await client.get("/v1/pupils", headers=h)).json()["items"]] == [stays["id"]]
    assert (await client.get("/v1/pupils?q=zoe&access=all", headers=h)).json()["total"] == 0
    assert (await client.get(f"/v1/classes/{cls['id']}/pupils?access=all", headers=h)).json()["total"] == 0
    assert (await client.get(f"/v1/classes/{cls['id']}", headers=h)).json()["pupil_count"] == 0
    assert (await client.get(f"/v1/pupils/{pid}", headers=school.viewer)).json() == pending
    # Deleting again keeps the original date.
    assert (await client.delete(f"/v1/pupils/{pid}", headers=h)).json() == pending
    # Bulk changes never touch it.
    r = await client.post("/v1/pupils/revoke-access", json={"pupil_ids": [pid]}, headers=h)
    assert r.json() == {"changed": 0}

    # Restore: back whole, with its class.
    r = await client.post(f"/v1/pupils/{pid}/restore", headers=h)
    assert r.status_code == 200, r.text
    back = r.json()
    assert back["pending_deletion_until"] is None and back["class_ids"] == [cls["id"]] and back["has_access"]
    assert (await client.get(f"/v1/classes/{cls['id']}", headers=h)).json()["pupil_count"] == 1
    assert (await client.post(f"/v1/pupils/{pid}/restore", headers=h)).json() == back  # idempotent

    # A shorter per-school period, then the clock: nothing before the date, the pupil after it.
    r = await client.patch(
        f"/v1/admin/schools/{school.id}", json={"settings": {"pending_deletion_days": 30}}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    pending = (await client.delete(f"/v1/pupils/{pid}", headers=h)).json()
    until = datetime.fromisoformat(pending["pending_deletion_until"])
    assert until - datetime.fromisoformat(pending["updated_at"]) == timedelta(days=30)
    assert await _purge_due(app, until - timedelta(seconds=1)) == 0
    assert (await client.get(f"/v1/pupils/{pid}", headers=h)).status_code == 200
    assert await _purge_due(app, until) >= 1
    assert_problem(await client.get(f"/v1/pupils/{pid}", headers=h), 404)
    assert_problem(await client.post(f"/v1/pupils/{pid}/restore", headers=h), 404)
    assert await _purge_due(app, until) == 0  # idempotent
    # The memberships went with it; the other pupil and the class stay.
    assert await db.fetchval("SELECT count(*) FROM class_memberships WHERE pupil_id = $1", uuid.UUID(pid)) == 0
    assert (await client.get(f"/v1/pupils/{stays['id']}", headers=h)).status_code == 200
    assert (await client.get(f"/v1/classes/{cls['id']}", headers=h)).status_code == 200
    # What remains is an audit event with ids only.
    events = (await client.get(f"/v1/audit-events?pupil_id={pid}&action=pupil.purged", headers=h)).json()["items"]
    assert len(events) == 1
    assert events[0]["actor"] == "system" and events[0]["data"] == {"reason": "pending_deletion_ended"}
    actions = [e["action"] for e in (await client.get(f"/v1/audit-events?pupil_id={pid}", headers=h)).json()["items"]]
    assert actions[:2] == ["pupil.purged", "pupil.deletion_requested"] and "pupil.restored" in actions


async def test_immediate_purge(client: httpx.AsyncClient, school: SchoolKeys, db: asyncpg.Connection) -> None:
    h = school.coordinator
    pupil, cls = await _setup(client, school)
    pid = pupil["id"]
    assert_problem(await client.delete(f"/v1/pupils/{pid}?immediate=true", headers=school.viewer), 403)
    assert_problem(await client.delete(f"/v1/pupils/{pid}?immediate=perhaps", headers=h), 422)
    r = await client.delete(f"/v1/pupils/{pid}?immediate=true", headers=h)
    assert r.status_code == 204 and not r.content
    assert_problem(await client.get(f"/v1/pupils/{pid}", headers=h), 404)
    assert_problem(await client.delete(f"/v1/pupils/{pid}?immediate=true", headers=h), 404)
    assert (await client.get(f"/v1/classes/{cls['id']}", headers=h)).json()["pupil_count"] == 0
    (event,) = (await client.get(f"/v1/audit-events?pupil_id={pid}&action=pupil.purged", headers=h)).json()["items"]
    assert event["data"] == {"reason": "immediate"} and event["actor"].startswith("key:")
    row = await db.fetchrow("SELECT data::text AS data FROM audit_events WHERE id = $1", uuid.UUID(event["id"]))
    assert "Zo" not in row["data"] and "A123456789012" not in row["data"]


async def test_everything_hanging_on_a_pupil_goes_with_it() -> None:
    """Every foreign key to ``pupils`` cascades, so a purge removes the pupil's results and memberships
    (tables added later, such as test results, must keep this)."""
    pupils = SQLModel.metadata.tables[str(Pupil.__tablename__)]
    refs = [fk for table in SQLModel.metadata.tables.values() for fk in table.foreign_keys if fk.column.table is pupils]
    assert refs
    assert all(fk.ondelete == "CASCADE" for fk in refs), [str(fk.parent) for fk in refs if fk.ondelete != "CASCADE"]


async def test_refusals(client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys) -> None:
    h = school.coordinator
    pupil, _ = await _setup(client, school)
    pid = pupil["id"]
    other = await make_school(client, admin_headers, name="Elsewhere")
    for method, path in (("DELETE", f"/v1/pupils/{pid}"), ("POST", f"/v1/pupils/{pid}/restore")):
        assert_problem(await client.request(method, path, headers=school.viewer), 403)
        assert_problem(await client.request(method, path, headers=other.coordinator), 404)
        assert_problem(await client.request(method, path), 401)
    assert_problem(await client.delete("/v1/pupils/not-a-uuid", headers=h), 404)
    assert_problem(await client.delete(f"/v1/pupils/{uuid.uuid4()}", headers=h), 404)
    got = (await client.get(f"/v1/pupils/{pid}", headers=h)).json()
    assert got["pending_deletion_until"] is None
