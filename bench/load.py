"""Load benchmark: a 100,000-pupil school under 64 concurrent clients, against a floor in the same run.

Set-up: a fresh database with one school of ``--pupils`` pupils (COPY), one class, a few sync jobs.
Servers: the misync API (``uvicorn app.main:app``, one process) and the floor, a bare FastAPI + asyncpg
app that reads the same page of pupils with one query (``bench/floor_app.py``), each in its own process.

Phases, each ``--seconds`` long with ``--clients`` concurrent clients (httpx, HTTP/1.1 keep-alive):

1. floor: ``GET /page``: one first page in five, the others after a cursor (a client paging through);
2. misync list: ``GET /v1/pupils?limit=100``, the same mix -- compared with 1 (target >= 0.8x the floor's
   throughput, zero errors). The first page also counts the school's pupils (``total``), which the floor
   does not: at 100,000 pupils that count costs more than the page itself;
3. misync mix: 70% pupil list pages, 20% job status reads, 10% result batches of 20 items.

Reported: requests per second, p50 and p99 latency, and errors, per phase and operation.

    .venv/bin/python bench/load.py --pupils 100000 --clients 64 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import ROOT, drop_database, fresh_database, plain, service_env  # noqa: E402
from bench.fetch import free_port  # noqa: E402

#: Share of list requests that are a first page (the rest follow a cursor).
FIRST_PAGE_SHARE = 0.2


async def seed(url: str, pupils: int) -> tuple[uuid.UUID, str, list[uuid.UUID], list[str]]:
    """A school with ``pupils`` pupils, a coordinator key, and a few finished jobs. Returns ids and the key."""
    from app.pupils.derived import derived_columns
    from app.security import LOOKUP_PREFIX_LENGTH, hash_api_key, new_api_key

    conn = await asyncpg.connect(plain(url))
    school_id = uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO schools (id, name, mis_options, settings, created_at, updated_at)"
        " VALUES ($1, 'Load', '{}', '{}', $2, $2)",
        school_id,
        now,
    )
    key = new_api_key()
    await conn.execute(
        "INSERT INTO api_keys (id, school_id, role, prefix, key_hash, created_at)"
        " VALUES ($1, $2, 'coordinator', $3, $4, $5)",
        uuid.uuid4(),
        school_id,
        key[:LOOKUP_PREFIX_LENGTH],
        hash_api_key(key),
        now,
    )
    rng = random.Random(5)
    names = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts", "Khan", "O'Brien"]
    firsts = ["Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Zoë", "Leo", "Mia", "Arthur"]
    rows = []
    ids = []
    for i in range(pupils):
        f, s = rng.choice(firsts), f"{rng.choice(names)}{i}"
        yg = f"Year {rng.randint(1, 11)}"
        d = derived_columns(forename=f, surname=s, legal_forename=None, legal_surname=None, upn=None, year_group=yg)
        pid = uuid.uuid4()
        ids.append(pid)
        rows.append(
            (
                pid,
                school_id,
                f,
                s,
                date(2012, 1, 1 + i % 28),
                yg,
                d["year_rank"],
                "synced",
                True,
                f"M{i}",
                d["sort_key"],
                d["search_text"],
                now,
                now,
            )
        )
    await conn.copy_records_to_table(
        "pupils",
        records=rows,
        columns=[
            "id",
            "school_id",
            "forename",
            "surname",
            "date_of_birth",
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
    jobs = []
    for _ in range(20):
        jid = uuid.uuid4()
        jobs.append(str(jid))
        await conn.execute(
            "INSERT INTO sync_jobs (id, school_id, kind, mode, status, params, progress, counts,"
            " warnings, attempts, created_at, finished_at) VALUES ($1, $2, 'pupils', 'preview',"
            " 'succeeded', '{}', '{}', '{}', '[]', 1, $3, $3)",
            jid,
            school_id,
            now,
        )
    await conn.execute("ANALYZE")
    await conn.close()
    return school_id, key, ids, jobs


def serve(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{app} did not start")


Op = Callable[[httpx.AsyncClient, random.Random], Awaitable[httpx.Response]]


async def run_phase(
    base: str, headers: dict[str, str], ops: list[tuple[str, float, Op]], clients: int, seconds: float
) -> dict[str, Any]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    names, weights = [n for n, _, _ in ops], [w for _, w, _ in ops]
    by_name = {n: op for n, _, op in ops}
    stop = time.monotonic() + seconds

    async def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:
            while time.monotonic() < stop:
                name = rng.choices(names, weights)[0]
                start = time.perf_counter()
                try:
                    r = await by_name[name](c, rng)
                    ok = r.status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies[name].append(time.perf_counter() - start)
                if not ok:
                    errors[name] += 1

    started = time.monotonic()
    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    out: dict[str, Any] = {}
    for name, lat in latencies.items():
        lat.sort()
        out[name] = {
            "requests": len(lat),
            "rps": round(len(lat) / elapsed, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 1),
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1),
            "errors": errors[name],
        }
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    url = await fresh_database("misync_load")
    school_id, key, pupil_ids, jobs = await seed(url, args.pupils)
    env = service_env(url, MISYNC_FLOOR_SCHOOL=str(school_id))
    misync_port, floor_port = free_port(), free_port()
    servers = [serve("app.main:app", misync_port, env), serve("bench.floor_app:app", floor_port, env)]
    cursors: list[str] = []
    try:
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{misync_port}", headers=auth) as c:
            page = c.get("/v1/pupils?limit=100").json()
            while page["next_cursor"] and len(cursors) < 50:  # cursors over the first 5,000 pupils
                cursors.append(page["next_cursor"])
                page = c.get(f"/v1/pupils?limit=100&cursor={page['next_cursor']}").json()
        floor_cursors: list[str] = []
        with httpx.Client(base_url=f"http://127.0.0.1:{floor_port}") as c:
            page = c.get("/page").json()
            while page["next_cursor"] and len(floor_cursors) < 50:
                floor_cursors.append(page["next_cursor"])
                page = c.get(f"/page?cursor={page['next_cursor']}").json()

        async def floor_page(c: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
            if rng.random() < FIRST_PAGE_SHARE:
                return await c.get("/page")
            return await c.get("/page", params={"cursor": rng.choice(floor_cursors)})

        async def list_page(c: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
            if rng.random() < FIRST_PAGE_SHARE:
                return await c.get("/v1/pupils", params={"limit": 100})
            return await c.get("/v1/pupils", params={"limit": 100, "cursor": rng.choice(cursors)})

        async def job_status(c: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
            return await c.get(f"/v1/sync-jobs/{rng.choice(jobs)}")

        counter = itertools.count()

        async def results_batch(c: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
            # Every item a new (pupil, suite, day): a result is recorded once, and a repeat is a 409 by design.
            items = []
            for _ in range(20):
                n = next(counter)
                day = date(2026, 1, 1) + timedelta(days=n // len(pupil_ids) % 300)
                items.append(
                    {
                        "pupil_id": str(pupil_ids[n % len(pupil_ids)]),
                        "suite": "PTE",
                        "taken_on": day.isoformat(),
                        "score": {"sas": rng.randint(70, 140)},
                    }
                )
            return await c.post("/v1/results", json={"items": items})

        floor = await run_phase(
            f"http://127.0.0.1:{floor_port}", {}, [("page", 1, floor_page)], args.clients, args.seconds
        )
        listing = await run_phase(
            f"http://127.0.0.1:{misync_port}", auth, [("list", 1, list_page)], args.clients, args.seconds
        )
        mix = await run_phase(
            f"http://127.0.0.1:{misync_port}",
            auth,
            [("list", 0.7, list_page), ("job", 0.2, job_status), ("results", 0.1, results_batch)],
            args.clients,
            args.seconds,
        )
    finally:
        for s in servers:
            s.terminate()
            s.wait()
        await drop_database(url)
    return {
        "pupils": args.pupils,
        "clients": args.clients,
        "seconds": args.seconds,
        "floor": floor,
        "misync_list": listing,
        "list_vs_floor": round(listing["list"]["rps"] / floor["page"]["rps"], 2),
        "misync_mix": mix,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pupils", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=1))


if __name__ == "__main__":
    main()
