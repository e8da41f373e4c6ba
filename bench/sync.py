"""Benchmark: a pupils sync at 2,000, 20,000 and 100,000 pupils, against floors measured in the same run.

For each size, in a fresh process (so peak RSS is the sync's own), with the demo MIS in another process:

* first import: preview + apply of an empty school (every pupil ``new``);
  floor: fetch+parse of the same pages + ``COPY`` of the same pupil rows;
* no-change resync: preview only (nothing to apply);
  floor: fetch+parse + one ``SELECT`` of the school's roster;
* rollover (demo MIS rollover: leavers, promotions, an intake, new group ids): preview + apply;
  floor: fetch+parse + one ``UPDATE ... FROM unnest(...)`` of the same pupil rows.

The sync runs the worker's own code (``app.sync.runner.run_job``) in this process, without arq.
Statements are counted with asyncpg's query logger on every connection (COPY included); pupil rows
written are counted from PostgreSQL's statistics (``n_tup_ins + n_tup_upd`` of ``pupils``).

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
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fetch import start_server, wonde_floor  # noqa: E402

ADMIN_URL = os.environ.get("MISYNC_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MISYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PER_PAGE = 200


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Counter:
    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, record: Any) -> None:
        self.statements += 1


async def pupil_writes(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        row = await conn.fetchrow("SELECT n_tup_ins + n_tup_upd AS w FROM pg_stat_user_tables WHERE relname = 'pupils'")
        return int(row["w"])
    finally:
        await conn.close()


async def one_size(pupils: int, mis_url: str) -> dict[str, Any]:
    from alembic import command
    from alembic.config import Config

    from app.config import Settings
    from app.db import create_engine, create_session_factory
    from app.models import Class, School
    from app.queue import connect
    from app.security import Cipher
    from app.sync import handlers  # noqa: F401
    from app.sync.runner import Services, run_job

    db_name = f"misync_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain(ADMIN_URL))
    await admin.execute(f'CREATE DATABASE "{db_name}"')
    await admin.close()
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + db_name
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    await asyncio.to_thread(command.upgrade, cfg, "heads")

    settings = Settings(database_url=url, redis_url=REDIS_URL, secret_key="bench-secret-key-" + "x" * 32, embedded=True)
    engine = create_engine(url)
    counter = Counter()

    @event.listens_for(engine.sync_engine, "connect")
    def _log(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.driver_connection.add_query_logger(counter)

    cipher = Cipher(settings.secret_key_bytes())
    http = httpx.AsyncClient()
    services = Services(settings, engine, create_session_factory(engine), connect(REDIS_URL), http, cipher)
    ref = f"BENCH{pupils}"
    httpx.put(f"{mis_url}/_demo/schools/{ref}", json={"pupils": pupils, "seed": 7}, timeout=300)
    async with services.session_factory() as s:
        school = School(name="Bench", mis_provider="wonde", mis_base_url=f"{mis_url}/v1.0", mis_school_ref=ref,
                        mis_credentials=cipher.encrypt_json({"token": "demo-wonde-token"}), settings={})
        s.add(school)
        await s.commit()
        school_id = school.id
    groups = httpx.get(f"{mis_url}/_demo/schools/{ref}/truth", timeout=300).json()["groups"]

    async def map_groups() -> None:
        async with services.session_factory() as s:
            await s.execute(Class.__table__.delete().where(Class.__table__.c.school_id == school_id))  # type: ignore[attr-defined]
            for g in groups:
                if g["type"] == "REGISTRATION":
                    s.add(Class(school_id=school_id, name=g["name"], name_key=g["name"].lower(),
                                mis_group_id=g["id"], set_up=True))
            await s.commit()

    async def job(mode: str) -> tuple[float, int, int, dict[str, Any]]:
        """Run a pupils job (preview, then apply unless preview-only): seconds, statements, pupil rows written."""
        from app.models import SyncJob

        async with services.session_factory() as s:
            row = SyncJob(school_id=school_id, kind="pupils", mode="preview", status="queued")
            s.add(row)
            await s.commit()
            job_id = row.id
        before_writes = await pupil_writes(plain(url))
        counter.statements = 0
        start = time.perf_counter()
        await run_job(services, job_id)
        if mode == "apply":
            async with services.session_factory() as s:
                row = await s.get(SyncJob, job_id)
                assert row is not None and row.status in ("awaiting_review", "held"), row.status
                row.status = "applying"
                row.params = {**row.params, "selection": {"select": "all"}, "override_guard": True}
                await s.commit()
            await run_job(services, job_id)
        elapsed = time.perf_counter() - start
        statements = counter.statements
        writes = await pupil_writes(plain(url)) - before_writes
        async with services.session_factory() as s:
            row = await s.get(SyncJob, job_id)
            assert row is not None
            result = {"status": row.status, "counts": row.counts, "applied": row.params.get("applied")}
        return elapsed, statements, writes, result

    async def fetch_floor() -> float:
        start = time.perf_counter()
        async with httpx.AsyncClient(timeout=60) as c:
            await wonde_floor_for(c, mis_url, ref)
        return time.perf_counter() - start

    conn = await asyncpg.connect(plain(url))

    async def copy_floor() -> float:
        """COPY as many rows of the real pupil shape (all columns) into a scratch copy of the table."""
        from datetime import UTC, date, datetime

        from app.sync.apply import _PUPIL_COLUMNS

        now = datetime.now(UTC)
        rows = [(uuid.uuid4(), school_id, f"Forename{i}", f"Surname{i}", f"Forename{i}", f"Surname{i}",
                 date(2014, 1, 1), None, "female", "Year 7", 9, "synced", True, f"MIS{i}", None,
                 f"surname{i} forename{i}", f"forename{i} surname{i}", now, now) for i in range(pupils)]
        await conn.execute("CREATE TEMP TABLE floor_pupils (LIKE pupils INCLUDING DEFAULTS)")
        start = time.perf_counter()
        await conn.copy_records_to_table("floor_pupils", records=rows, columns=list(_PUPIL_COLUMNS))
        took = time.perf_counter() - start
        await conn.execute("DROP TABLE floor_pupils")
        return took

    async def read_floor() -> float:
        start = time.perf_counter()
        await conn.fetch("SELECT * FROM pupils WHERE school_id = $1", school_id)
        return time.perf_counter() - start

    async def upsert_floor() -> float:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM pupils WHERE school_id = $1", school_id)]
        tr = conn.transaction()
        await tr.start()
        start = time.perf_counter()
        await conn.execute("""
            UPDATE pupils p SET year_group = v.yg, year_rank = v.rank, updated_at = now()
            FROM unnest($1::uuid[], $2::text[], $3::int[]) AS v(id, yg, rank) WHERE p.id = v.id
        """, ids, ["Year 7"] * len(ids), [9] * len(ids))
        took = time.perf_counter() - start
        await tr.rollback()  # a floor, not a change
        return took

    await map_groups()
    fetch1 = await fetch_floor()
    copy = await copy_floor()
    first = await job("apply")
    fetch2 = await fetch_floor()
    read = await read_floor()
    resync = await job("preview")
    httpx.post(f"{mis_url}/_demo/schools/{ref}/rollover", timeout=300)
    groups = httpx.get(f"{mis_url}/_demo/schools/{ref}/truth", timeout=300).json()["groups"]
    await map_groups()
    fetch3 = await fetch_floor()
    upsert = await upsert_floor()
    rollover = await job("apply")
    await conn.close()
    await http.aclose()
    await services.redis.aclose(close_connection_pool=True)
    await engine.dispose()
    admin = await asyncpg.connect(plain(ADMIN_URL))
    await admin.execute(f'DROP DATABASE "{db_name}" WITH (FORCE)')
    await admin.close()

    def phase(measured: tuple[float, int, int, dict[str, Any]], floor: float, target: float) -> dict[str, Any]:
        took, statements, writes, result = measured
        return {"seconds": round(took, 2), "floor_seconds": round(floor, 2), "ratio": round(took / floor, 2),
                "target": target, "statements": statements, "pupil_rows_written": writes, **result}

    return {
        "pupils": pupils,
        "first_import": phase(first, fetch1 + copy, 3.0),
        "no_change_resync": phase(resync, fetch2 + read, 1.5),
        "rollover": phase(rollover, fetch3 + upsert, 2.0),
        "floors": {"fetch_parse": round(fetch1, 2), "copy": round(copy, 2), "select_roster": round(read, 3),
                   "unnest_upsert": round(upsert, 2)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


async def wonde_floor_for(client: httpx.AsyncClient, url: str, ref: str) -> int:
    """The fetch floor for one school (bench.fetch measures the fixed BENCH school)."""
    import bench.fetch as fetch

    old = fetch.SCHOOL
    fetch.SCHOOL = ref
    try:
        return await wonde_floor(client, url, PER_PAGE)
    finally:
        fetch.SCHOOL = old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mis-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(one_size(args.one, args.mis_url))))
        return
    server, mis_url = start_server("app.demo_mis.app:create_app")
    try:
        for size in args.sizes:
            out = subprocess.run([sys.executable, __file__, "--one", str(size), "--mis-url", mis_url],
                                 capture_output=True, text=True, cwd=ROOT, check=False)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"size {size} failed")
            print(json.dumps(json.loads(out.stdout.strip().splitlines()[-1]), indent=1), flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
