"""Benchmark: fetch and parse a large school with each MIS connector, against a floor.

The demo MIS runs under uvicorn in its own process (so the server's work does not share the
benchmark's event loop). For each provider the same pages are fetched two ways, alternately:

* floor: plain ``httpx`` GETs of exactly the pages the connector reads, each body through
  ``json.loads``, nothing else (Wonde: the students pages following ``next``; OneRoster: the
  token, then classes, enrollments, demographics and students with ``limit``/``offset``);
* connector: ``connector.pupils()`` consumed to the end (validation, mapping, records).

A warm-up pass of each comes first (the simulator generates the school and fills its caches
on first use). Reported: best and median of ``--repeat`` runs, and connector / floor (target:
at most 1.5).

    .venv/bin/python bench/fetch.py --pupils 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.mis.oneroster import OneRosterConnector  # noqa: E402
from app.mis.wonde import WondeConnector  # noqa: E402

SCHOOL = "BENCH"
WONDE_TOKEN = "demo-wonde-token"
OR_ID, OR_SECRET = "demo-client", "demo-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(factory: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_demo/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the demo MIS did not start")


# -- floors ------------------------------------------------------------------------------------


async def wonde_floor(client: httpx.AsyncClient, url: str, per_page: int) -> int:
    headers = {"Authorization": f"Bearer {WONDE_TOKEN}"}
    next_url: str | None = f"{url}/v1.0/schools/{SCHOOL}/students"
    params: dict[str, str | int] | None = {
        "include": "education_details,groups",
        "per_page": per_page,
        "cursor": "true",
    }
    count = 0
    while next_url:
        response = await client.get(next_url, params=params, headers=headers)
        body = json.loads(response.content)
        count += len(body["data"])
        pagination = body["meta"]["pagination"]
        next_url = pagination["next"] if pagination["more"] else None
        params = None
    return count


async def oneroster_floor(client: httpx.AsyncClient, url: str, limit: int) -> int:
    token_response = await client.post(
        f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(OR_ID, OR_SECRET)
    )
    headers = {"Authorization": f"Bearer {json.loads(token_response.content)['access_token']}"}
    base = f"{url}/ims/oneroster/rostering/v1p2"
    users = 0
    for path, key in (
        (f"schools/{SCHOOL}/classes", "classes"),
        (f"schools/{SCHOOL}/enrollments", "enrollments"),
        ("demographics", "demographics"),
        (f"schools/{SCHOOL}/students", "users"),
    ):
        offset = 0
        while True:
            params = {"limit": limit, "offset": offset, "sort": "sourcedId", "orderBy": "asc"}
            response = await client.get(f"{base}/{path}", params=params, headers=headers)
            items = json.loads(response.content)[key]
            offset += len(items)
            if key == "users":
                users += len(items)
            if offset >= int(response.headers["x-total-count"]) or not items:
                break
    return users


# -- connectors --------------------------------------------------------------------------------


async def wonde_connector(client: httpx.AsyncClient, url: str, per_page: int) -> int:
    conn = WondeConnector(client, f"{url}/v1.0", SCHOOL, {"token": WONDE_TOKEN}, per_page=per_page)
    return sum([len(page) async for page in conn.pupils()])


async def oneroster_connector(client: httpx.AsyncClient, url: str, limit: int) -> int:
    creds = {"client_id": OR_ID, "client_secret": OR_SECRET, "token_url": f"{url}/oauth/token"}
    conn = OneRosterConnector(client, f"{url}/ims/oneroster/rostering/v1p2", SCHOOL, creds, page_size=limit)
    return sum([len(page) async for page in conn.pupils()])


Run = Callable[[httpx.AsyncClient, str, int], Awaitable[int]]


async def timed(run: Run, client: httpx.AsyncClient, url: str, size: int) -> tuple[float, int]:
    started = time.perf_counter()
    count = await run(client, url, size)
    return time.perf_counter() - started, count


async def bench(url: str, args: argparse.Namespace) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    cases: list[tuple[str, Run, Run, int]] = [
        ("wonde", wonde_floor, wonde_connector, args.wonde_per_page),
        ("oneroster", oneroster_floor, oneroster_connector, args.oneroster_limit),
    ]
    async with httpx.AsyncClient(timeout=httpx.Timeout(120, connect=5)) as client:
        for provider, floor, connector, size in cases:
            if provider not in args.providers:
                continue
            await timed(floor, client, url, size)  # warm-up: generation and server caches
            await timed(connector, client, url, size)
            floors: list[float] = []
            conns: list[float] = []
            counts: set[tuple[str, int]] = set()
            for _ in range(args.repeat):
                seconds, n = await timed(floor, client, url, size)
                floors.append(seconds)
                counts.add(("floor items", n))
                seconds, n = await timed(connector, client, url, size)
                conns.append(seconds)
                counts.add(("connector pupils", n))
            row = {
                "provider": provider,
                "page_size": size,
                "pupils": dict(counts).get("connector pupils"),
                "floor_best_s": round(min(floors), 3),
                "floor_median_s": round(statistics.median(floors), 3),
                "connector_best_s": round(min(conns), 3),
                "connector_median_s": round(statistics.median(conns), 3),
                "ratio_best": round(min(conns) / min(floors), 3),
                "ratio_median": round(statistics.median(conns) / statistics.median(floors), 3),
                "floor_runs_s": [round(x, 3) for x in floors],
                "connector_runs_s": [round(x, 3) for x in conns],
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pupils", type=int, default=100_000, help="school size (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per provider (default 3)")
    parser.add_argument("--providers", default="wonde,oneroster", help="comma separated (default both)")
    parser.add_argument("--wonde-per-page", type=int, default=200, help="Wonde per_page (default 200)")
    parser.add_argument("--oneroster-limit", type=int, default=100, help="OneRoster limit (default 100)")
    parser.add_argument("--url", help="use a running demo MIS instead of starting one")
    parser.add_argument("--factory", default="app.demo_mis.app:create_app", help="demo MIS ASGI factory")
    args = parser.parse_args()
    args.providers = set(args.providers.split(","))

    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.factory)
    try:
        put = httpx.put(f"{url}/_demo/schools/{SCHOOL}", json={"pupils": args.pupils}, timeout=300)
        put.raise_for_status()
        print(f"# demo MIS at {url}, school {SCHOOL} with {args.pupils} pupils", flush=True)
        results = asyncio.run(bench(url, args))
        worst = max((float(str(r["ratio_median"])) for r in results), default=0.0)
        print(f"# worst median ratio {worst:.2f} (target <= 1.5)")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
