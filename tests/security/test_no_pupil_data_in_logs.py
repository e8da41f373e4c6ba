"""No pupil name, date of birth or UPN in the logs of a full sync (API and worker).

A school is synced from its demo MIS school through the API (registration groups, mapping, preview,
review reads, apply, searches by name) with a worker process of the test's own, whose output goes to a
file. Every log record of the API (formatted as the service formats it, extras included) and every
line of the worker's output is searched for each pupil's full names, UPN and ISO date of birth from the
demo MIS's truth, as written and as JSON escapes them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.demo_mis.server import DemoMisServer
from app.logs import JsonFormatter
from tests.conftest import make_school, wonde_connection, worker_env
from tests.fixtures.workers import private_queue, start_worker, stop_worker
from tests.helpers import wait_for_job

PUPILS = 120


def _needles(truth: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for p in truth["pupils"]:
        for forename, surname in ((p["forename"], p["surname"]), (p["legal_forename"], p["legal_surname"])):
            if forename and surname:
                out.add(f"{forename} {surname}")
                out.add(f"{surname}, {forename}")
        out.update(v for v in (p["upn"], p["date_of_birth"]) if v)
    # Logs are JSON lines: non-ASCII text appears escaped there.
    return out | {json.dumps(n)[1:-1] for n in out}


async def test_a_full_sync_logs_no_pupil_data(
    settings: Settings,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    ref = f"logs-{tmp_path.name[-12:]}"
    r = httpx.put(f"{demo_mis.url}/_demo/schools/{ref}", json={"pupils": PUPILS, "seed": 23}, timeout=30)
    assert r.status_code < 400, r.text
    truth = httpx.get(f"{demo_mis.url}/_demo/schools/{ref}/truth", timeout=30).json()
    log_file = tmp_path / "worker.log"
    async with private_queue(settings) as (client, own):
        worker = start_worker({**worker_env(own), "MISYNC_LOG_LEVEL": "INFO"}, log_file)
        try:
            h = (await make_school(client, admin_headers, mis=wonde_connection(demo_mis, ref))).coordinator
            groups = await client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=h)
            assert (await wait_for_job(client, h, groups.json()["id"]))["status"] == "succeeded"
            live = (await client.get("/v1/mis/registration-groups?limit=1000", headers=h)).json()["items"]
            mappings = [{"mis_group_id": g["mis_group_id"], "class_id": None, "set_up": True} for g in live]
            assert (await client.put("/v1/class-mappings", json={"mappings": mappings}, headers=h)).status_code == 200
            # A pupil added by hand who the sync matches, so matching evidence is computed and shown.
            p0 = truth["pupils"][0]
            manual = {"forename": p0["forename"], "surname": p0["surname"], "date_of_birth": p0["date_of_birth"]}
            assert (await client.post("/v1/pupils", json=manual, headers=h)).status_code == 201
            preview = await client.post("/v1/sync-jobs", json={"kind": "pupils"}, headers=h)
            plan = await wait_for_job(client, h, preview.json()["id"])
            assert plan["status"] == "awaiting_review", plan
            items = await client.get(f"/v1/sync-jobs/{plan['id']}/items", params={"limit": 1000}, headers=h)
            assert len(items.json()["items"]) == PUPILS
            events = await client.get(f"/v1/sync-jobs/{plan['id']}/events", headers=h)
            assert events.status_code == 200
            assert (await client.post(f"/v1/sync-jobs/{plan['id']}/apply", json={}, headers=h)).status_code == 202
            assert (await wait_for_job(client, h, plan["id"]))["status"] == "succeeded"
            for p in truth["pupils"][:5]:  # searches by name and UPN: the query string holds pupil data
                search = await client.get("/v1/pupils", params={"q": f"{p['forename']} {p['surname']}"}, headers=h)
                assert search.json()["total"] >= 1
                await client.get("/v1/pupils", params={"q": p["upn"]}, headers=h)
            resync = await client.post("/v1/sync-jobs", json={"kind": "pupils", "mode": "apply"}, headers=h)
            assert (await wait_for_job(client, h, resync.json()["id"]))["status"] == "succeeded"
        finally:
            stop_worker(worker)

    # The test's own client logs its requests (query strings included) through httpx: not the service's.
    api_logs = "\n".join(
        JsonFormatter().format(record)
        for record in caplog.records
        if not (record.name == "httpx" and "http://private/" in record.getMessage())
    )
    worker_logs = log_file.read_text(errors="replace")
    assert "run_sync_job" in worker_logs and '"logger": "misync.http"' in api_logs  # both were captured
    needles = _needles(truth)
    assert len(needles) > 3 * PUPILS
    found = {
        where: sorted(n for n in needles if n in text) for where, text in (("API", api_logs), ("worker", worker_logs))
    }
    assert found == {"API": [], "worker": []}, found
