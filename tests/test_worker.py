"""The worker path end to end: API -> PostgreSQL job row -> Redis -> a real arq worker process -> MIS."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.demo_mis.server import DemoMisServer
from tests.conftest import make_school, oneroster_connection, wonde_connection, worker_env
from tests.fixtures.servers import Servers, plain_dsn
from tests.fixtures.workers import private_queue, start_worker, stop_worker
from tests.helpers import wait_for_job


async def test_registration_groups_job_runs_in_a_worker(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    worker: subprocess.Popen[bytes],
    request: pytest.FixtureRequest,
) -> None:
    ref = f"W-{uuid.uuid4().hex[:8]}"
    school = await make_school(client, admin_headers, mis=wonde_connection(demo_mis, ref))
    r = await client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=school.coordinator)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued" and r.headers["location"] == f"/v1/sync-jobs/{r.json()['id']}"
    job = await wait_for_job(client, school.viewer, r.json()["id"])
    assert job["status"] == "succeeded", job
    truth = httpx.get(f"{demo_mis.url}/_demo/schools/{ref}/truth").json()
    assert job["counts"]["groups"] == len([g for g in truth["groups"] if g["type"] == "REGISTRATION"])
    assert job["counts"]["pupils"] == len(truth["pupils"])
    assert job["started_at"] and job["finished_at"]
    listed = (await client.get("/v1/sync-jobs", headers=school.viewer)).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]


async def test_rejected_credentials_fail_the_job_with_a_problem(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    worker: subprocess.Popen[bytes],
) -> None:
    school = await make_school(client, admin_headers, mis=oneroster_connection(demo_mis, "W-bad", secret="wrong"))
    r = await client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=school.coordinator)
    job = await wait_for_job(client, school.viewer, r.json()["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "credentials_rejected" and job["error"]["status"] == 502
    assert "wrong" not in str(job)


async def test_a_job_whose_enqueue_was_lost_is_picked_up_by_the_sweeper(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    worker: subprocess.Popen[bytes],
    servers: Servers,
) -> None:
    school = await make_school(client, admin_headers, mis=wonde_connection(demo_mis, "W-lost"))
    job_id = uuid.uuid4()
    conn = await asyncpg.connect(plain_dsn(servers.database_url))
    try:  # a job row committed, but never enqueued (as if Redis was down at that moment)
        await conn.execute(
            "INSERT INTO sync_jobs (id, school_id, kind, status, params, progress, counts, warnings, attempts,"
            " created_at) VALUES ($1, $2, 'registration_groups', 'queued', '{}', '{}', '{}', '[]', 0,"
            " now() - interval '1 minute')",
            job_id,
            uuid.UUID(school.id),
        )
    finally:
        await conn.close()
    job = await wait_for_job(client, school.viewer, str(job_id), timeout=60)
    assert job["status"] == "succeeded"


async def test_a_job_whose_worker_was_killed_is_finished_by_another_within_60s(
    settings: Settings,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    tmp_path: Path,
) -> None:
    ref = f"W-kill-{uuid.uuid4().hex[:6]}"
    async with private_queue(settings, stale_after_s=15) as (c, own):
        env = worker_env(own)
        school = await make_school(c, admin_headers, mis=wonde_connection(demo_mis, ref))
        # Slow MIS answers keep the job running long enough to kill its worker mid-fetch.
        httpx.post(f"{demo_mis.url}/_demo/schools/{ref}/faults", json={"mode": "slow", "delay_ms": 400, "count": 12})
        first = start_worker(env, tmp_path / "first.log")
        second = None
        try:
            r = await c.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=school.coordinator)
            job_id = r.json()["id"]
            running = await wait_for_job(c, school.viewer, job_id, until={"running"}, timeout=30)
            assert running["status"] == "running"
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            second = start_worker(env, tmp_path / "second.log")
            job = await wait_for_job(c, school.viewer, job_id, timeout=60)
        finally:
            stop_worker(first)
            if second is not None:
                stop_worker(second)
    assert job["status"] == "succeeded", job
