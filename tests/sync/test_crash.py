"""Crash safety: a worker killed at random moments of a large apply leaves no half-applied plan; another
worker finishes the job, which ends exactly as an uninterrupted run would."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from pathlib import Path

import httpx

from app.config import Settings
from app.demo_mis.server import DemoMisServer
from tests.conftest import make_school, wonde_connection, worker_env
from tests.fixtures.workers import private_queue, start_worker, stop_worker
from tests.helpers import wait_for_job

PUPILS = 3000
TRIALS = 5


async def test_kill_the_worker_during_apply(
    settings: Settings, admin_headers: dict[str, str], demo_mis: DemoMisServer, tmp_path: Path
) -> None:
    rng = random.Random(20261129)
    async with private_queue(settings) as (client, own):
        env = worker_env(own)
        workers = [start_worker(env, tmp_path / "worker-0.log")]
        try:
            for trial in range(TRIALS):
                ref = f"crash-{trial}-{os.getpid()}"
                httpx.put(
                    f"{demo_mis.url}/_demo/schools/{ref}", json={"pupils": PUPILS, "seed": 40 + trial}, timeout=60
                )
                school = await make_school(client, admin_headers, mis=wonde_connection(demo_mis, ref))
                h = school.coordinator
                groups = await client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=h)
                await wait_for_job(client, h, groups.json()["id"])
                live = (await client.get("/v1/mis/registration-groups?limit=1000", headers=h)).json()["items"]
                mappings = [{"mis_group_id": g["mis_group_id"], "class_id": None, "set_up": True} for g in live]
                assert (
                    await client.put("/v1/class-mappings", json={"mappings": mappings}, headers=h)
                ).status_code == 200
                preview = await client.post("/v1/sync-jobs", json={"kind": "pupils"}, headers=h)
                plan = await wait_for_job(client, h, preview.json()["id"], timeout=120)
                assert plan["status"] == "awaiting_review", plan

                r = await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json={}, headers=h)
                assert r.status_code == 202
                await asyncio.sleep(rng.uniform(0.0, 1.5))  # a random kill point, not synchronisation
                victim = workers[-1]
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                workers.append(start_worker(env, tmp_path / f"worker-{trial + 1}.log"))
                job = await wait_for_job(client, h, plan["id"], timeout=60)
                assert job["status"] == "succeeded", job
                assert job["applied"]["created"] == plan["counts"]["new"] == PUPILS
                listing = (await client.get("/v1/pupils?limit=1", headers=h)).json()
                assert listing["total"] == PUPILS  # exactly once: nothing lost, nothing doubled
                classes = (await client.get("/v1/classes?limit=1000", headers=h)).json()["items"]
                assert sum(c["pupil_count"] for c in classes) == PUPILS
                created = (
                    await client.get(
                        "/v1/audit-events",
                        params={"job_id": plan["id"], "limit": 1000, "action": "pupil.created"},
                        headers=h,
                    )
                ).json()
                assert len(created["items"]) == 1000 and created["next_cursor"]
                assert Counter(
                    p["sync_status"] for p in (await client.get("/v1/pupils?limit=1000", headers=h)).json()["items"]
                ) == {"synced": 1000}
        finally:
            for w in workers:
                stop_worker(w)
