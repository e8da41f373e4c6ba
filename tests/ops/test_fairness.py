"""Fairness: schools share the workers (one huge school does not hold up a small one), and MIS requests
are limited per provider and host across all workers by a Redis semaphore whose slots expire."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

import httpx
import pytest

from app import queue
from app.config import Settings
from app.demo_mis.server import DemoMisServer
from app.mis.limiter import RedisSemaphore
from tests.helpers import FINAL, wait_for_job
from tests.sync.flow import mis_school


async def test_a_small_school_finishes_while_a_huge_one_runs(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    """The session worker runs several jobs at once (``max_jobs`` 10); a school has one job at a time,
    so a 5,000-pupil school takes one slot and the small school's job goes ahead beside it."""
    large = await mis_school(client, admin_headers, demo_mis, pupils=5000)
    small = await mis_school(client, admin_headers, demo_mis, pupils=40)
    await large.map_by_name()
    await small.map_by_name()
    # Slow MIS pages keep the huge fetch going for several seconds (25 pages of 200 pupils).
    large.demo_call("POST", "/faults", json={"mode": "slow", "delay_ms": 300, "endpoint": "students"})

    r = await client.post("/v1/sync-jobs", json={"kind": "pupils", "mode": "preview"}, headers=large.h)
    large_id = r.json()["id"]
    await wait_for_job(client, large.h, large_id, until={"running"}, timeout=30)
    small_job = await small.preview()
    assert small_job["status"] == "awaiting_review", small_job

    large_now = (await client.get(f"/v1/sync-jobs/{large_id}", headers=large.h)).json()
    assert large_now["status"] == "running", large_now
    # ... and it keeps making progress of its own.
    deadline = time.monotonic() + 30
    while large_now["progress"]["done"] == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        large_now = (await client.get(f"/v1/sync-jobs/{large_id}", headers=large.h)).json()
    assert large_now["progress"]["phase"] == "fetching_pupils" and large_now["progress"]["done"] > 0, large_now
    large.demo_call("DELETE", "/faults")
    done = await wait_for_job(client, large.h, large_id, until=FINAL, timeout=120)
    assert done["status"] == "awaiting_review" and done["counts"]["new"] == 5000, done


@pytest.fixture
async def redis(settings: Settings):  # type: ignore[no-untyped-def]
    r = queue.connect(settings.redis_url)
    yield r
    await r.aclose(close_connection_pool=True)


async def test_the_semaphore_bounds_concurrency_per_provider_and_host(redis) -> None:  # type: ignore[no-untyped-def]
    limiter = RedisSemaphore(redis, 3, ttl_s=30, poll_s=0.005)
    host = f"mis-{uuid.uuid4().hex[:8]}.example"
    inside = peak = 0

    async def request() -> None:
        nonlocal inside, peak
        async with limiter.slot("wonde", host):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    other_host_entered = asyncio.Event()

    async def other_host() -> None:
        async with limiter.slot("wonde", "elsewhere-" + host):
            other_host_entered.set()

    await asyncio.gather(*(request() for _ in range(20)), other_host())
    assert peak == 3
    assert other_host_entered.is_set()
    assert await redis.zcard(RedisSemaphore.key("wonde", host)) == 0  # every slot released


async def test_a_crashed_holders_slot_expires(redis) -> None:  # type: ignore[no-untyped-def]
    limiter = RedisSemaphore(redis, 1, ttl_s=0.5, poll_s=0.01)
    host = f"mis-{uuid.uuid4().hex[:8]}.example"
    # A worker that died holding the only slot: its member stays in the set, never released.
    assert await limiter._try(RedisSemaphore.key("oneroster", host), "dead-worker")
    started = time.monotonic()
    async with limiter.slot("oneroster", host):
        waited = time.monotonic() - started
    assert 0.3 <= waited < 5


async def test_without_redis_requests_go_ahead() -> None:
    broken = queue.connect("redis://127.0.0.1:1/0")
    try:
        async with RedisSemaphore(broken, 1).slot("wonde", "example"):
            pass
    finally:
        await broken.aclose(close_connection_pool=True)
