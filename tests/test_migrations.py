"""Migrations: upgrade head on an empty database, down to base, up again; models and migrations agree."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from alembic import command

from tests.fixtures.servers import Servers, alembic_config, create_database, drop_database, plain_dsn, with_database


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


def test_upgrade_downgrade_upgrade_and_check(servers: Servers) -> None:
    name = f"misync_migrations_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(servers.admin_database_url, name))
    url = with_database(servers.admin_database_url, name)
    cfg = alembic_config(url)
    try:
        command.upgrade(cfg, "heads")
        tables = asyncio.run(_tables(url))
        assert {"schools", "api_keys", "pupils", "classes", "class_memberships", "sync_jobs", "audit_events"} <= tables
        command.check(cfg)  # raises if the models and the migrations disagree
        command.downgrade(cfg, "base")
        assert asyncio.run(_tables(url)) == {"alembic_version"}
        command.upgrade(cfg, "heads")
        assert asyncio.run(_tables(url)) == tables
    finally:
        asyncio.run(drop_database(servers.admin_database_url, name))
