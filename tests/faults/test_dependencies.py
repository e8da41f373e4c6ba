"""PostgreSQL or Redis going away and coming back, with real processes.

- PostgreSQL stops: the API answers 503 problem+json with Retry-After (and /readyz 503), then the same
  app instance serves again once PostgreSQL is back on the same data dir and port.
- Redis restarts while a sync job runs: the job still completes with every pupil in its plan.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.demo_mis.server import DemoMisServer
from app.main import create_app
from tests.conftest import ADMIN_TOKEN, make_school, wonde_connection, worker_env
from tests.faults.conftest import Restartable
from tests.fixtures.workers import start_worker, stop_worker
from tests.helpers import assert_problem, wait_for_job

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://faults") as client,
    ):
        yield client


async def until(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        await asyncio.sleep(0.1)


async def test_postgres_stops_then_the_same_app_recovers(settings: Settings, embedded: Restartable) -> None:
    own = settings.model_copy(
        update={"database_url": embedded.urls.database_url, "queue_name": f"misync:test:pg:{uuid.uuid4().hex[:8]}"}
    )
    async with api(own) as client:
        school = await make_school(client, ADMIN)
        h = school.coordinator
        assert (await client.post("/v1/classes", json={"name": "7A"}, headers=h)).status_code == 201
        assert (await client.get("/readyz")).status_code == 200

        embedded.stop()
        try:
            for _ in range(3):  # the first request meets a dead pooled connection, the next ones no server
                r = await client.get("/v1/classes", headers=h)
                body = assert_problem(r, 503)
                assert body["type"].endswith("/service-unavailable")
                assert int(r.headers["retry-after"]) > 0
            r = await client.post("/v1/classes", json={"name": "7B"}, headers=h)
            assert_problem(r, 503)
            ready = assert_problem(await client.get("/readyz"), 503)
            assert ready["checks"]["postgres"].startswith("down")
            assert (await client.get("/healthz")).status_code == 200  # the process itself is alive
        finally:
            embedded.start()

        async def serves() -> bool:
            return (await client.get("/v1/classes", headers=h)).status_code == 200

        await until(serves, 30, "the API serving again after PostgreSQL came back")
        assert (await client.get("/readyz")).status_code == 200
        names = [c["name"] for c in (await client.get("/v1/classes", headers=h)).json()["items"]]
        assert names == ["7A"]  # the write refused while PostgreSQL was down did not half-happen
        assert (await client.post("/v1/classes", json={"name": "7B"}, headers=h)).status_code == 201


async def _set_up_school(client: httpx.AsyncClient, demo: DemoMisServer, ref: str) -> dict[str, str]:
    keys = await make_school(client, ADMIN, mis=wonde_connection(demo, ref))
    h = keys.coordinator
    groups = await client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=h)
    assert (await wait_for_job(client, h, groups.json()["id"]))["status"] == "succeeded"
    live = (await client.get("/v1/mis/registration-groups?limit=1000", headers=h)).json()["items"]
    mappings = [{"mis_group_id": g["mis_group_id"], "class_id": None, "set_up": True} for g in live]
    assert (await client.put("/v1/class-mappings", json={"mappings": mappings}, headers=h)).status_code == 200
    return h


async def test_redis_restarts_during_a_job(
    settings: Settings, embedded: Restartable, demo_mis: DemoMisServer, tmp_path: Path
) -> None:
    own = settings.model_copy(
        update={
            "redis_url": embedded.urls.redis_url,
            "queue_name": f"misync:test:redis:{uuid.uuid4().hex[:8]}",
            "job_stale_after_s": 6.0,
        }
    )
    ref = f"redis-restart-{uuid.uuid4().hex[:8]}"
    pupils = 150
    other_ref, other_pupils = f"{ref}-other", 40
    for r_, n in ((ref, pupils), (other_ref, other_pupils)):
        r = httpx.put(f"{demo_mis.url}/_demo/schools/{r_}", json={"pupils": n, "seed": 9}, timeout=30)
        assert r.status_code < 400, r.text
    worker = start_worker(worker_env(own), tmp_path / "worker.log")
    try:
        async with api(own) as client:
            h = await _set_up_school(client, demo_mis, ref)
            other = await _set_up_school(client, demo_mis, other_ref)
            # The students page answers after 6 s, so the fetch is still going when Redis is back.
            fault = {"mode": "slow", "delay_ms": 6000, "endpoint": "students"}
            assert httpx.post(f"{demo_mis.url}/_demo/schools/{ref}/faults", json=fault).status_code == 201
            submitted = await client.post("/v1/sync-jobs", json={"kind": "pupils"}, headers=h)
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["id"]

            async def running() -> bool:
                job = (await client.get(f"/v1/sync-jobs/{job_id}", headers=h)).json()
                assert job["status"] in {"queued", "running"}, job
                return bool(job["status"] == "running")

            await until(running, 30, "the job starting")
            embedded.stop()
            # A job submitted while Redis is down is accepted (it is in PostgreSQL) but cannot be queued:
            # the sweeper queues it once Redis is back.
            during = await client.post("/v1/sync-jobs", json={"kind": "pupils"}, headers=other)
            assert during.status_code == 202, during.text
            assert_problem(await client.get("/readyz"), 503)
            embedded.start()
            still = (await client.get(f"/v1/sync-jobs/{job_id}", headers=h)).json()
            assert still["status"] == "running", still  # the restart happened during the job

            other_job = await wait_for_job(client, other, during.json()["id"], timeout=90)
            assert other_job["status"] == "awaiting_review", other_job
            assert other_job["counts"]["new"] == other_pupils
            job = await wait_for_job(client, h, job_id, timeout=90)
            assert job["status"] == "awaiting_review", job
            assert job["counts"]["new"] == pupils, job["counts"]
            items: list[dict[str, Any]] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
                page = (await client.get(f"/v1/sync-jobs/{job_id}/items", params=params, headers=h)).json()
                items += page["items"]
                if (cursor := page["next_cursor"]) is None:
                    break
            assert len(items) == pupils
            assert len({i["mis"]["mis_id"] for i in items}) == pupils  # each MIS pupil exactly once
            applied = await client.post(f"/v1/sync-jobs/{job_id}/apply", json={}, headers=h)
            assert applied.status_code == 202, applied.text
            done = await wait_for_job(client, h, job_id, timeout=60)
            assert done["status"] == "succeeded", done
            assert (await client.get("/v1/pupils?limit=1", headers=h)).json()["total"] == pupils
    finally:
        stop_worker(worker)
        for r_ in (ref, other_ref):
            httpx.delete(f"{demo_mis.url}/_demo/schools/{r_}")
