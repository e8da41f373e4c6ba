"""The load benchmark's floor: a bare FastAPI + asyncpg app that reads the same page of pupils as
``GET /v1/pupils`` with one query (no auth, no count, no class ids, no ORM), for ``bench/load.py``."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request

COLUMNS = (
    "id, forename, surname, legal_forename, legal_surname, date_of_birth, upn, year_group, sync_status,"
    " has_access, mis_id, pending_deletion_until, created_at, updated_at, sort_key"
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ["MISYNC_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    app.state.pool = await asyncpg.create_pool(url, min_size=10, max_size=20)
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)
SCHOOL = uuid.UUID(os.environ.get("MISYNC_FLOOR_SCHOOL", str(uuid.UUID(int=0))))


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/page")
async def page(request: Request, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    pool: asyncpg.Pool = request.app.state.pool
    if cursor:
        key, last = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        rows = await pool.fetch(
            f"SELECT {COLUMNS} FROM pupils WHERE school_id = $1 AND pending_deletion_until IS NULL"
            " AND (sort_key, id) > ($2, $3) ORDER BY sort_key, id LIMIT $4",
            SCHOOL,
            key,
            uuid.UUID(last),
            limit + 1,
        )
    else:
        rows = await pool.fetch(
            f"SELECT {COLUMNS} FROM pupils WHERE school_id = $1 AND pending_deletion_until IS NULL"
            " ORDER BY sort_key, id LIMIT $2",
            SCHOOL,
            limit + 1,
        )
    items = [
        {k: (str(v) if v is not None and not isinstance(v, str | bool) else v) for k, v in dict(r).items()}
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last_row = rows[limit - 1]
        raw = json.dumps([last_row["sort_key"], str(last_row["id"])]).encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return {"items": items, "next_cursor": next_cursor}
