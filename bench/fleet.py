"""Fleet benchmark: 500 schools of 1,000 pupils each, resynced by two workers.

Set-up (not timed): the demo MIS in its own process; a fresh database with ``--schools`` schools, each
connected to its own demo MIS school (Wonde), its registration groups mapped onto classes, and its
roster already synced (the pupils and MIS-managed memberships of the demo MIS's truth, written with COPY).

Timed: ``--schools`` pupils jobs in ``apply`` mode submitted at once (as the nightly schedule does, minus
its jitter), run by ``--workers`` worker processes (``arq workers.settings.WorkerSettings``, the real
worker). Reported: total time until every job ended, each school's wait (job created -> started) and
run time, and the outcome counts. Target: under 3 minutes, and no school waits behind more than its
fair share: no school is overtaken, i.e. started more than a second after a school submitted later than
it (jobs are served in submission order, whatever the size of the schools ahead).

    .venv/bin/python bench/fleet.py --schools 500 --pupils 1000 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
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

from bench.common import REDIS_URL, SECRET, drop_database, fresh_database, plain, service_env  # noqa: E402
from bench.fetch import start_server  # noqa: E402


async def seed_school(conn: asyncpg.Connection, mis_url: str, pupils: int, n: int) -> uuid.UUID:
    from app.pupils.derived import derived_columns
    from app.security import Cipher

    ref = f"FLEET{n:04d}"
    httpx.put(f"{mis_url}/_demo/schools/{ref}", json={"pupils": pupils, "seed": 100 + n}, timeout=60)
    truth = httpx.get(f"{mis_url}/_demo/schools/{ref}/truth", timeout=60).json()
    school_id = uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        """
        INSERT INTO schools (id, name, mis_provider, mis_base_url, mis_school_ref, mis_credentials, mis_options,
                             settings, created_at, updated_at)
        VALUES ($1, $2, 'wonde', $3, $4, $5, '{}', '{}', $6, $6)
    """,
        school_id,
        f"School {n}",
        f"{mis_url}/v1.0",
        ref,
        Cipher(SECRET.encode()).encrypt_json({"token": "demo-wonde-token"}),
        now,
    )
    class_of: dict[str, uuid.UUID] = {}
    for g in truth["groups"]:
        if g["type"] == "REGISTRATION":
            class_of[g["id"]] = uuid.uuid4()
            await conn.execute(
                "INSERT INTO classes (id, school_id, name, name_key, mis_group_id, set_up, created_at, updated_at)"
                " VALUES ($1, $2, $3::text, lower($3::text), $4, true, $5, $5)",
                class_of[g["id"]],
                school_id,
                g["name"],
                g["id"],
                now,
            )
    rows, members = [], []
    for p in truth["pupils"]:
        pid = uuid.uuid4()
        upn = p["upn"] if p["upn_valid"] else None
        d = derived_columns(
            forename=p["forename"],
            surname=p["surname"],
            legal_forename=p["legal_forename"],
            legal_surname=p["legal_surname"],
            upn=upn,
            year_group=p["year_group"],
        )
        dob = date.fromisoformat(p["date_of_birth"]) if p["date_of_birth"] else None
        gender = {"M": "male", "F": "female"}.get(p["gender"], (p["gender"] or "").lower() or None)
        rows.append(
            (
                pid,
                school_id,
                p["forename"],
                p["surname"],
                p["legal_forename"],
                p["legal_surname"],
                dob,
                upn,
                gender,
                p["year_group"],
                d["year_rank"],
                "synced",
                True,
                p["id"],
                d["sort_key"],
                d["search_text"],
                now,
                now,
            )
        )
        members.append((class_of[p["registration_group_id"]], pid, school_id, True, now))
    await conn.copy_records_to_table(
        "pupils",
        records=rows,
        columns=[
            "id",
            "school_id",
            "forename",
            "surname",
            "legal_forename",
            "legal_surname",
            "date_of_birth",
            "upn",
            "gender",
            "year_group",
            "year_rank",
            "sync_status",
            "has_access",
            "mis_id",
            "sort_key",
            "search_text",
            "created_at",
            "updated_at",
        ],
    )
    await conn.copy_records_to_table(
        "class_memberships", records=members, columns=["class_id", "pupil_id", "school_id", "mis_managed", "created_at"]
    )
    return school_id


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from app import queue

    url = await fresh_database("misync_fleet")
    server, mis_url = start_server("app.demo_mis.app:create_app")
    queue_name = f"misync:fleet:{uuid.uuid4().hex[:6]}"
    env = service_env(url, MISYNC_QUEUE_NAME=queue_name)
    workers: list[subprocess.Popen[bytes]] = []
    conn = await asyncpg.connect(plain(url))
    try:
        setup_start = time.perf_counter()
        schools = [await seed_school(conn, mis_url, args.pupils, n) for n in range(args.schools)]
        for n in range(args.schools):  # warm the simulator's page caches, as a long-running MIS would be
            httpx.get(
                f"{mis_url}/v1.0/schools/FLEET{n:04d}/students",
                params={"per_page": 1},
                headers={"Authorization": "Bearer demo-wonde-token"},
                timeout=60,
            )
        setup = time.perf_counter() - setup_start
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "arq", "workers.settings.WorkerSettings"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        await asyncio.sleep(3)  # let the workers start before the clock does (set-up, not synchronisation)
        redis = queue.connect(REDIS_URL)
        start = time.perf_counter()
        job_ids = []
        for school_id in schools:
            job_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO sync_jobs (id, school_id, kind, mode, status, params, progress, counts, warnings,"
                " attempts, created_at) VALUES ($1, $2, 'pupils', 'apply', 'queued', '{}', '{}', '{}', '[]', 0,"
                " clock_timestamp())",
                job_id,
                school_id,
            )
            await queue.enqueue(redis, job_id, queue_name)
            job_ids.append(job_id)
        while True:
            left = await conn.fetchval(
                "SELECT count(*) FROM sync_jobs WHERE status IN ('queued', 'running', 'applying')"
            )
            if left == 0:
                break
            if time.perf_counter() - start > args.timeout:
                raise SystemExit(f"{left} jobs still running after {args.timeout} s")
            await asyncio.sleep(0.5)
        total = time.perf_counter() - start
        await redis.aclose(close_connection_pool=True)
        rows = await conn.fetch(
            "SELECT id, status, extract(epoch FROM started_at - created_at) AS wait,"
            " extract(epoch FROM finished_at - started_at) AS run, started_at FROM sync_jobs"
        )
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait()
        await conn.close()
        server.terminate()
        server.wait()
        await drop_database(url)
    order = {jid: i for i, jid in enumerate(job_ids)}
    by_order = sorted(rows, key=lambda r: order[r["id"]])
    waits = [float(r["wait"]) for r in by_order]
    runs = [float(r["run"]) for r in by_order]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    # Overtaken: a school that started more than a second after some school submitted later than it.
    latest_later_start = None
    overtaken = 0
    for r in reversed(by_order):
        if latest_later_start is not None and (r["started_at"] - latest_later_start).total_seconds() > 1.0:
            overtaken += 1
        if latest_later_start is None or r["started_at"] < latest_later_start:
            latest_later_start = r["started_at"]
    return {
        "schools": args.schools,
        "pupils_per_school": args.pupils,
        "workers": args.workers,
        "setup_seconds": round(setup, 1),
        "total_seconds": round(total, 1),
        "statuses": statuses,
        "wait_seconds": {
            "p50": round(statistics.median(waits), 1),
            "max": round(max(waits), 1),
            "first_10_max": round(max(waits[:10]), 1),
        },
        "run_seconds": {"p50": round(statistics.median(runs), 2), "max": round(max(runs), 2)},
        "schools_overtaken": overtaken,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=500)
    parser.add_argument("--pupils", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=1))


if __name__ == "__main__":
    main()
