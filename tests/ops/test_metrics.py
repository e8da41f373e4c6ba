"""Prometheus metrics: MIS requests by provider and status after a job, the metric families on the API's
``/metrics``, and a worker's own metrics endpoint (``MISYNC_WORKER_METRICS_PORT``)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

import httpx

from app.config import Settings
from app.demo_mis.server import DemoMisServer
from tests.conftest import make_school, wonde_connection, worker_env
from tests.fixtures.workers import private_queue, start_worker, stop_worker
from tests.helpers import wait_for_job
from tests.ops.inprocess import in_process

FAMILIES = (
    "misync_http_requests_total",
    "misync_http_request_duration_seconds",
    "misync_sync_jobs_total",
    "misync_sync_job_duration_seconds",
    "misync_pupils_processed_total",
    "misync_mis_requests_total",
    "misync_mis_request_duration_seconds",
    "misync_mis_slot_wait_seconds",
    "misync_queue_depth",
    "misync_webhook_deliveries_total",
    "misync_scheduled_jobs_total",
    "misync_worker_last_seen_seconds",
)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_mis_request_metrics_after_a_job(
    settings: Settings, admin_headers: dict[str, str], demo_mis: DemoMisServer
) -> None:
    async with in_process(settings, admin_headers) as h:
        before = (await h.client.get("/metrics")).text
        keys = await h.mis_school(demo_mis, pupils=30)
        ref = (await h.client.get("/v1/school", headers=keys.viewer)).json()["mis"]["school_ref"]
        # One 500 first (retried), so the status label shows both answers.
        httpx.post(f"{demo_mis.url}/_demo/schools/{ref}/faults", json={"mode": "server_error", "count": 1})
        job = await h.job(keys, {"kind": "pupils", "mode": "preview"})
        assert job["status"] == "awaiting_review", job
        after = (await h.client.get("/metrics")).text

    for name in FAMILIES:
        assert f"# TYPE {name} " in after, name
    ok = ("misync_mis_requests_total", {"provider": "wonde", "status": "200"})
    assert sample(after, ok[0], **ok[1]) > sample(before, ok[0], **ok[1])
    failed = ("misync_mis_requests_total", {"provider": "wonde", "status": "500"})
    assert sample(after, failed[0], **failed[1]) >= sample(before, failed[0], **failed[1]) + 1
    latency = ("misync_mis_request_duration_seconds_count", {"provider": "wonde", "status": "200"})
    assert sample(after, latency[0], **latency[1]) > sample(before, latency[0], **latency[1])
    jobs = ("misync_sync_jobs_total", {"kind": "pupils", "status": "awaiting_review"})
    assert sample(after, jobs[0], **jobs[1]) >= sample(before, jobs[0], **jobs[1]) + 1
    assert sample(after, "misync_pupils_processed_total", provider="wonde") >= 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_worker_serves_its_metrics_and_health(
    settings: Settings, admin_headers: dict[str, str], demo_mis: DemoMisServer, tmp_path: Path
) -> None:
    port = free_port()
    async with private_queue(settings) as (client, own):
        env = {**worker_env(own), "MISYNC_WORKER_METRICS_PORT": str(port)}
        school = await make_school(client, admin_headers, mis=wonde_connection(demo_mis, f"M-{port}"))
        proc = start_worker(env, tmp_path / "worker.log")
        try:
            r = await client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=school.coordinator)
            job = await wait_for_job(client, school.viewer, r.json()["id"], timeout=60)
            assert job["status"] == "succeeded", job
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            assert sample(text, "misync_mis_requests_total", provider="wonde", status="200") > 0
            assert sample(text, "misync_sync_jobs_total", kind="registration_groups", status="succeeded") >= 1
            assert "# TYPE misync_queue_depth gauge" in text

            # The API reports the worker in /readyz (never a reason for 503) and as a gauge.
            deadline = time.monotonic() + 30
            while True:
                ready = (await client.get("/readyz")).json()
                if ready["checks"]["workers"].startswith("ok (seen") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert re.fullmatch(r"ok \(seen \d+s ago\)", ready["checks"]["workers"]), ready
            gauge = sample((await client.get("/metrics")).text, "misync_worker_last_seen_seconds")
            assert 0 <= gauge <= 11
        finally:
            stop_worker(proc)
        # A stopped worker removes its key: none seen, and /readyz still answers 200.
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["workers"] == "none seen"
