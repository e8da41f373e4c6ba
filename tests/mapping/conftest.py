"""Direct database access for the mapping tests: seed what a fetch or a pupil sync would have written."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.fixtures.servers import Servers, plain_dsn


@dataclass
class Db:
    conn: asyncpg.Connection

    async def add_groups(self, school_id: str, groups: Sequence[dict[str, Any]]) -> None:
        """Registration groups as a ``registration_groups`` job stores them."""
        await self.conn.executemany(
            "INSERT INTO mis_registration_groups (id, school_id, mis_group_id, name, year_group, pupil_count,"
            " stale, lineage_class_id, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
            " now(), now())",
            [
                (
                    uuid.uuid4(),
                    uuid.UUID(school_id),
                    g["id"],
                    g["name"],
                    g.get("year_group"),
                    g.get("pupil_count", 0),
                    g.get("stale", False),
                    uuid.UUID(g["lineage"]) if g.get("lineage") else None,
                )
                for g in groups
            ],
        )

    async def add_synced_pupils(self, school_id: str, members: Sequence[tuple[str, str]]) -> None:
        """Synced pupils (``(mis_id, class_id)``) with MIS-managed memberships, as a pupil sync leaves them."""
        rows = [(uuid.uuid4(), mis_id, uuid.UUID(class_id)) for mis_id, class_id in members]
        sid = uuid.UUID(school_id)
        await self.conn.executemany(
            "INSERT INTO pupils (id, school_id, forename, surname, year_rank, sync_status, has_access, mis_id,"
            " sort_key, search_text, created_at, updated_at)"
            " VALUES ($1, $2, 'Pat', 'Doe', 99, 'synced', true, $3, 'doe pat', 'pat doe', now(), now())",
            [(pid, sid, mis_id) for pid, mis_id, _ in rows],
        )
        await self.conn.executemany(
            "INSERT INTO class_memberships (class_id, pupil_id, school_id, mis_managed, created_at)"
            " VALUES ($1, $2, $3, true, now())",
            [(cid, pid, sid) for pid, _, cid in rows],
        )

    async def audit_actions(self, school_id: str, action: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT entity_id, data FROM audit_events WHERE school_id = $1 AND action = $2 ORDER BY created_at",
            uuid.UUID(school_id),
            action,
        )
        return [{"entity_id": r["entity_id"], "data": json.loads(r["data"])} for r in rows]


@pytest.fixture
async def db(servers: Servers) -> AsyncIterator[Db]:
    conn = await asyncpg.connect(plain_dsn(servers.database_url))
    try:
        yield Db(conn)
    finally:
        await conn.close()
