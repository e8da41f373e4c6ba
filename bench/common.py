"""What the benchmarks share: where the servers are, a fresh migrated database, and its removal.

``MISYNC_BENCH_DATABASE_URL`` names a maintenance database of the PostgreSQL server to use (default the
local one); each run creates its own database next to it and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("MISYNC_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MISYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN_TOKEN = "bench-operator-token-0123456789abcdef"
SECRET = "bench-secret-key-0123456789abcdefghijklmn"


def plain(url: str) -> str:
    """The URL for asyncpg itself (without SQLAlchemy's driver name)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def fresh_database(prefix: str) -> str:
    """Create a database, migrate it to head, and return its SQLAlchemy URL."""
    from alembic import command
    from alembic.config import Config

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain(ADMIN_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    await asyncio.to_thread(command.upgrade, cfg, "head")
    return url


async def drop_database(url: str) -> None:
    admin = await asyncpg.connect(plain(ADMIN_URL))
    try:
        await admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment for an API or worker process of the benchmark."""
    return {
        **os.environ,
        "MISYNC_DATABASE_URL": database_url,
        "MISYNC_REDIS_URL": REDIS_URL,
        "MISYNC_ADMIN_TOKEN": ADMIN_TOKEN,
        "MISYNC_SECRET_KEY": SECRET,
        "MISYNC_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
