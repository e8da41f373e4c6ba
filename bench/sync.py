"""Benchmark: a pupils sync at 2,000, 20,000 and 100,000 pupils, against floors measured in the same run.

For each size, with the demo MIS in a process of its own:

* first import: preview + apply of an empty school (every pupil ``new``);
  floor: fetch+parse of the same pages + ``COPY`` of as many pupil rows (every column);
* no-change resync: preview (nothing to apply);
  floor: fetch+parse + one ``SELECT`` of the school's roster;
* rollover (the demo MIS's September: leavers, promotions, an intake, new group ids; groups mapped onto
  the classes of the same name): preview + apply;
  floor: fetch+parse + one ``UPDATE ... FROM unnest(...)`` of the school's pupil rows.

Each sync phase runs the worker's own code (``app.sync.runner.run_job``, without arq) in a fresh
process, so its peak RSS is the sync's own; the floors run in the parent. Statements are counted with
asyncpg's query logger on every connection (COPY included). Pupil rows written are those whose
``updated_at`` moved during the phase.

    .venv/bin/python bench/sync.py --sizes 2000 20000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import REDIS_URL, SECRET, drop_database, fresh_database, plain  # noqa: E402
from bench.fetch import start_server  # noqa: E402

PER_PAGE = 200


# -- a sync phase, in its own process ---------------------------------------------------------------


async def run_phase(url: str, school_id: uuid.UUID, apply: bool) -> dict[str, Any]:
    from sqlalchemy import event

    from app.config import Settings
    from app.db import create_engine, create_session_factory
    from app.models import SyncJob
    from app.queue import connect
    from app.security import Cipher
    from app.sync import handlers  # noqa: F401  (registers the job kinds)
    from app.sync.runner import Services, run_job

    statements = 0

    def count(_: Any) -> None:
        nonlocal statements
        statements += 1

    settings = Settings(database_url=url, redis_url=REDIS_URL, secret_key=SECRET, embedded=True)
    engine = create_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _log(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.driver_connection.add_query_logger(count)

    async with httpx.AsyncClient() as http:
        services = Services(
            settings,
            engine,
            create_session_factory(engine),
            connect(REDIS_URL),
            http,
            Cipher(settings.secret_key_bytes()),
        )
        async with services.session_factory() as s:
            job = SyncJob(school_id=school_id, kind="pupils", mode="preview", status="queued")
            s.add(job)
            await s.commit()
        started_at = datetime.now(UTC)
        statements = 0
        start = time.perf_counter()
        await run_job(services, job.id)
        if apply:
            async with services.session_factory() as s:
                row = await s.get(SyncJob, job.id)
                assert row is not None and row.status in ("awaiting_review", "held"), row.status
                row.status = "applying"
                row.params = {**row.params, "selection": {"select": "all"}, "override_guard": True}
                await s.commit()
            await run_job(services, job.id)
        seconds = time.perf_counter() - start
        counted = statements
        async with services.session_factory() as s:
            row = await s.get(SyncJob, job.id)
            assert row is not None
            result = {"status": row.status, "counts": row.counts, "applied": row.params.get("applied")}
        await services.redis.aclose(close_connection_pool=True)
    await engine.dispose()
    conn = await asyncpg.connect(plain(url))
    written = await conn.fetchval("SELECT count(*) FROM pupils WHERE updated_at >= $1", started_at)
    await conn.close()
    return {
        "seconds": seconds,
        "statements": counted,
        "pupil_rows_written": written,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **result,
    }


def phase(url: str, school_id: uuid.UUID, apply: bool) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", url, str(school_id), "apply" if apply else "preview"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if out.returncode != 0:
        print(out.stderr[-4000:], file=sys.stderr)
        raise SystemExit("a sync phase failed")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- floors and set-up, in the parent ---------------------------------------------------------------


async def fetch_floor(mis_url: str, ref: str) -> float:
    """Plain httpx GETs of the pages the Wonde connector reads, each through json.loads."""
    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        next_url: str | None = f"{mis_url}/v1.0/schools/{ref}/students"
        params: dict[str, Any] | None = {"include": "education_details,groups", "per_page": PER_PAGE, "cursor": "true"}
        while next_url:
            r = await client.get(next_url, params=params, headers={"Authorization": "Bearer demo-wonde-token"})
            body = json.loads(r.content)
            meta = body["meta"]["pagination"]
            next_url, params = (meta["next"] if meta["more"] else None), None
    return time.perf_counter() - start


async def copy_floor(conn: asyncpg.Connection, school_id: uuid.UUID, pupils: int) -> float:
    from app.sync.apply import _PUPIL_COLUMNS

    now = datetime.now(UTC)
    rows = [
        (
            uuid.uuid4(),
            school_id,
            f"Forename{i}",
            f"Surname{i}",
            f"Forename{i}",
            f"Surname{i}",
            date(2014, 1, 1),
            None,
            "female",
            "Year 7",
            9,
            "synced",
            True,
            f"MIS{i}",
            None,
            f"surname{i} forename{i}",
            f"forename{i} surname{i}",
            now,
            now,
        )
        for i in range(pupils)
    ]
    await conn.execute("CREATE TEMP TABLE floor_pupils (LIKE pupils INCLUDING DEFAULTS)")
    start = time.perf_counter()
    await conn.copy_records_to_table("floor_pupils", records=rows, columns=list(_PUPIL_COLUMNS))
    took = time.perf_counter() - start
    await conn.execute("DROP TABLE floor_pupils")
    return took


async def read_floor(conn: asyncpg.Connection, school_id: uuid.UUID) -> float:
    start = time.perf_counter()
    await conn.fetch("SELECT * FROM pupils WHERE school_id = $1", school_id)
    return time.perf_counter() - start


async def upsert_floor(conn: asyncpg.Connection, school_id: uuid.UUID) -> float:
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM pupils WHERE school_id = $1", school_id)]
    tr = conn.transaction()
    await tr.start()
    start = time.perf_counter()
    await conn.execute(
        """
        UPDATE pupils p SET year_group = v.yg, year_rank = v.rank, updated_at = now()
        FROM unnest($1::uuid[], $2::text[], $3::int[]) AS v(id, yg, rank) WHERE p.id = v.id
    """,
        ids,
        ["Year 7"] * len(ids),
        [9] * len(ids),
    )
    took = time.perf_counter() - start
    await tr.rollback()  # a floor, not a change
    return took


async def map_by_name(conn: asyncpg.Connection, school_id: uuid.UUID, mis_url: str, ref: str) -> None:
    """Every live registration group on the class of its name (created when missing); others unmapped."""
    groups = httpx.get(f"{mis_url}/_demo/schools/{ref}/truth", timeout=300).json()["groups"]
    await conn.execute("UPDATE classes SET mis_group_id = NULL, set_up = false WHERE school_id = $1", school_id)
    for g in groups:
        if g["type"] == "REGISTRATION":
            await conn.execute(
                """
                INSERT INTO classes (id, school_id, name, name_key, mis_group_id, set_up, created_at, updated_at)
                VALUES ($1, $2, $3::text, lower($3::text), $4, true, now(), now())
                ON CONFLICT (school_id, name_key) DO UPDATE SET mis_group_id = excluded.mis_group_id, set_up = true
            """,
                uuid.uuid4(),
                school_id,
                g["name"],
                g["id"],
            )


async def one_size(pupils: int, mis_url: str) -> dict[str, Any]:
    from app.security import Cipher

    url = await fresh_database("misync_bench")
    ref = f"BENCH{pupils}-{uuid.uuid4().hex[:4]}"
    httpx.put(f"{mis_url}/_demo/schools/{ref}", json={"pupils": pupils, "seed": 7}, timeout=300)
    conn = await asyncpg.connect(plain(url))
    school_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO schools (id, name, mis_provider, mis_base_url, mis_school_ref, mis_credentials, mis_options,
                             settings, created_at, updated_at)
        VALUES ($1, 'Bench', 'wonde', $2, $3, $4, '{}', '{}', now(), now())
    """,
        school_id,
        f"{mis_url}/v1.0",
        ref,
        Cipher(SECRET.encode()).encrypt_json({"token": "demo-wonde-token"}),
    )
    try:
        await map_by_name(conn, school_id, mis_url, ref)
        await fetch_floor(mis_url, ref)  # warm the simulator's caches
        floors = {"fetch_parse": await fetch_floor(mis_url, ref), "copy": await copy_floor(conn, school_id, pupils)}
        first = phase(url, school_id, apply=True)
        floors["select_roster"] = await read_floor(conn, school_id)
        floors["fetch_parse_2"] = await fetch_floor(mis_url, ref)
        resync = phase(url, school_id, apply=False)
        httpx.post(f"{mis_url}/_demo/schools/{ref}/rollover", timeout=300)
        await map_by_name(conn, school_id, mis_url, ref)
        await fetch_floor(mis_url, ref)
        floors["fetch_parse_3"] = await fetch_floor(mis_url, ref)
        floors["unnest_upsert"] = await upsert_floor(conn, school_id)
        rollover = phase(url, school_id, apply=True)
    finally:
        await conn.close()
        await drop_database(url)
        httpx.delete(f"{mis_url}/_demo/schools/{ref}", timeout=60)

    def against(measured: dict[str, Any], floor: float, target: float) -> dict[str, Any]:
        return {
            "seconds": round(measured["seconds"], 2),
            "floor_seconds": round(floor, 2),
            "ratio": round(measured["seconds"] / floor, 2),
            "target": target,
            **{k: v for k, v in measured.items() if k != "seconds"},
        }

    return {
        "pupils": pupils,
        "first_import": against(first, floors["fetch_parse"] + floors["copy"], 3.0),
        "no_change_resync": against(resync, floors["fetch_parse_2"] + floors["select_roster"], 1.5),
        "rollover": against(rollover, floors["fetch_parse_3"] + floors["unnest_upsert"], 2.0),
        "floors": {k: round(v, 3) for k, v in floors.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--phase", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        url, school_id, mode = args.phase
        coro = run_phase(url, uuid.UUID(school_id), mode == "apply")
        if os.environ.get("MISYNC_BENCH_PROFILE"):  # where the time goes: cProfile of each phase
            import cProfile

            profile = cProfile.Profile()
            result = profile.runcall(asyncio.run, coro)
            profile.dump_stats(f"{os.environ['MISYNC_BENCH_PROFILE']}.{mode}.{os.getpid()}")
        else:
            result = asyncio.run(coro)
        print(json.dumps(result, default=str))
        return
    server, mis_url = start_server("app.demo_mis.app:create_app")
    try:
        for size in args.sizes:
            print(json.dumps(asyncio.run(one_size(size, mis_url)), indent=1, default=str), flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
