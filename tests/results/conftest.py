"""Helpers for the results and retention tests: add pupils, record results, run retention, read the
database directly (to check what the API no longer shows)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import SchoolKeys
from tests.fixtures.servers import Servers, plain_dsn


async def add_pupil(client: httpx.AsyncClient, school: SchoolKeys, forename: str, surname: str, **fields: Any) -> str:
    r = await client.post(
        "/v1/pupils", json={"forename": forename, "surname": surname, **fields}, headers=school.coordinator
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def record(
    client: httpx.AsyncClient, school: SchoolKeys, *items: tuple[str, str, str, dict[str, Any]]
) -> list[str]:
    """Record (pupil id, suite, taken_on, score) items; returns the new ids."""
    body = {"items": [{"pupil_id": p, "suite": s, "taken_on": d, "score": sc} for p, s, d, sc in items]}
    r = await client.post("/v1/results", json=body, headers=school.coordinator)
    assert r.status_code == 201, r.text
    assert r.json()["created"] == len(items)
    return [str(i) for i in r.json()["ids"]]


async def run_retention(client: httpx.AsyncClient, admin_headers: dict[str, str], as_of: str) -> dict[str, Any]:
    r = await client.post("/v1/admin/retention/run", json={"as_of": as_of}, headers=admin_headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    assert out["as_of"] == as_of
    return out


async def visible(client: httpx.AsyncClient, school: SchoolKeys, pupil_id: str) -> list[tuple[str, str]]:
    """(suite, taken_on) of the pupil's results as the school sees them."""
    r = await client.get(f"/v1/pupils/{pupil_id}/results", headers=school.viewer)
    assert r.status_code == 200, r.text
    return [(i["suite"], i["taken_on"]) for i in r.json()["items"]]


class Db:
    """Direct reads of what the API does not show."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def results(self, school_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch("SELECT * FROM results WHERE school_id = $1 ORDER BY id", uuid.UUID(school_id))
        return [{**dict(r), "score": json.loads(r["score"])} for r in rows]

    async def result(self, result_id: str) -> dict[str, Any]:
        row = await self.conn.fetchrow("SELECT * FROM results WHERE id = $1", uuid.UUID(result_id))
        assert row is not None
        return dict(row)

    async def events(self, school_id: str, event_type: str = "pupils.anonymised") -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT payload FROM outbox_events WHERE school_id = $1 AND type = $2 ORDER BY created_at",
            uuid.UUID(school_id),
            event_type,
        )
        return [json.loads(r["payload"]) for r in rows]

    async def audit(self, school_id: str, action: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT actor, data FROM audit_events WHERE school_id = $1 AND action = $2 ORDER BY created_at",
            uuid.UUID(school_id),
            action,
        )
        return [{"actor": r["actor"], "data": json.loads(r["data"])} for r in rows]

    async def token_pairs(self, pupil_ids: list[str]) -> int:
        return int(
            await self.conn.fetchval(
                "SELECT count(*) FROM result_anon_tokens WHERE pupil_id = ANY($1::uuid[])",
                [uuid.UUID(p) for p in pupil_ids],
            )
        )


@pytest.fixture
async def db(servers: Servers) -> AsyncIterator[Db]:
    conn = await asyncpg.connect(plain_dsn(servers.database_url))
    try:
        yield Db(conn)
    finally:
        await conn.close()
