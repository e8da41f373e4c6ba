"""Operator commands of the ``misync`` CLI, run as a subprocess against the test database."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.demo_mis.server import DemoMisServer
from tests.conftest import make_school, oneroster_connection, wonde_connection, worker_env
from tests.fixtures.servers import REPO
from tests.fixtures.workers import private_queue


async def misync(settings: Settings, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        env=worker_env(settings),
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_create_school_with_mis_file_schedule_and_key(
    settings: Settings, client: httpx.AsyncClient, demo_mis: DemoMisServer, tmp_path: Path
) -> None:
    mis = tmp_path / "mis.json"
    mis.write_text(json.dumps(wonde_connection(demo_mis, "CLI-1", token="secret-wonde-token")))
    code, out, err = await misync(
        settings, "create-school", "--name", "Cli Academy", "--urn", "123456", "--mis", str(mis), "--sync-time", "02:00"
    )
    assert code == 0, err
    (created,) = lines(out)
    assert "secret-wonde-token" not in out
    school, key = created["school"], created["api_key"]
    assert school["name"] == "Cli Academy" and school["mis"]["has_credentials"] is True
    assert school["settings"]["sync_time"] == "02:00" and key["role"] == "coordinator"
    # The key works against the API.
    me = await client.get("/v1/school", headers={"Authorization": f"Bearer {key['key']}"})
    assert me.status_code == 200 and me.json()["id"] == school["id"]


async def test_create_school_from_flags_and_stdin_and_refusals(settings: Settings, demo_mis: DemoMisServer) -> None:
    conn = oneroster_connection(demo_mis, "CLI-2")
    creds = conn["credentials"]
    assert isinstance(creds, dict)
    code, out, err = await misync(
        settings,
        "create-school",
        "--name",
        "Flags School",
        "--provider",
        "oneroster",
        "--base-url",
        str(conn["base_url"]),
        "--school-ref",
        "CLI-2",
        "--client-id",
        creds["client_id"],
        "--client-secret",
        creds["client_secret"],
        "--token-url",
        creds["token_url"],
        "--key-role",
        "none",
    )
    assert code == 0, err
    (created,) = lines(out)
    assert created["api_key"] is None and created["school"]["mis"]["provider"] == "oneroster"

    code, out, _ = await misync(
        settings, "create-school", "--name", "Stdin School", "--mis", "-", stdin=json.dumps(conn)
    )
    assert code == 0 and lines(out)[0]["school"]["mis"]["school_ref"] == "CLI-2"

    code, _, err = await misync(settings, "create-school", "--name", "Bad", "--sync-time", "25:00")
    assert code == 1 and "sync_time" in err
    code, _, err = await misync(settings, "create-school", "--name", "Bad", "--provider", "wonde")
    assert code == 1 and "base_url" in err


async def test_jobs_cancel_retry_and_audit_export(
    settings: Settings, admin_headers: dict[str, str], demo_mis: DemoMisServer
) -> None:
    async with private_queue(settings) as (client, own):  # no worker: jobs stay queued
        school = await make_school(client, admin_headers, mis=wonde_connection(demo_mis, "CLI-3"))
        r = await client.post(
            "/v1/sync-jobs", json={"kind": "pupils", "mode": "apply", "year_groups": ["7"]}, headers=school.coordinator
        )
        job_id = r.json()["id"]

        code, out, err = await misync(own, "jobs", "--school", school.id, "--json")
        assert code == 0, err
        assert [(j["id"], j["status"], j["school_id"]) for j in lines(out)] == [(job_id, "queued", school.id)]
        code, out, _ = await misync(own, "jobs", "--school", school.id)
        assert out.splitlines()[0].split() == ["created_at", "job_id", "school_id", "kind", "mode", "status", "detail"]
        assert job_id in out
        code, out, _ = await misync(own, "jobs", "--school", school.id, "--status", "failed", "--json")
        assert code == 0 and out == ""

        code, _, err = await misync(own, "retry-job", job_id)
        assert code == 1 and "only a failed or cancelled job" in err

        code, out, err = await misync(own, "cancel-job", job_id)
        assert code == 0, err
        assert lines(out)[0]["status"] == "cancelled"

        code, out, err = await misync(own, "retry-job", job_id)
        assert code == 0, err
        (retried,) = lines(out)
        assert retried["id"] != job_id and retried["status"] == "queued"
        assert (retried["kind"], retried["mode"], retried["year_groups"]) == ("pupils", "apply", ["Year 7"])
        seen = (await client.get(f"/v1/sync-jobs/{retried['id']}", headers=school.viewer)).json()
        assert seen["status"] == "queued"
        redis = client._transport.app.state.redis  # type: ignore[attr-defined]
        assert await redis.exists(f"arq:job:sync_job:{retried['id']}")  # enqueued on the private queue

        code, _, err = await misync(own, "cancel-job", str(uuid.uuid4()))
        assert code == 1 and "No sync job" in err

        code, out, err = await misync(own, "export-audit", school.id)
        assert code == 0, err
        events = lines(out)
        times = [e["created_at"] for e in events]
        assert times == sorted(times, reverse=True)
        actions = [e["action"] for e in events]
        assert actions[-1] == "school.created" and "sync_job.cancelled" in actions
        assert {"id", "created_at", "actor", "action", "entity_type", "entity_id", "job_id", "data"} == set(events[0])
        cancelled = next(e for e in events if e["action"] == "sync_job.cancelled")
        assert cancelled["actor"] == "operator" and cancelled["job_id"] == job_id

        today = datetime.now(UTC).date()
        code, out, _ = await misync(own, "export-audit", school.id, "--since", str(today + timedelta(days=1)))
        assert code == 0 and out == ""
        code, out, _ = await misync(own, "export-audit", school.id, "--since", str(today), "--until", str(today))
        assert len(lines(out)) == len(events)
        code, _, err = await misync(own, "export-audit", str(uuid.uuid4()))
        assert code == 1 and "No school" in err


async def test_run_retention_for_a_date(settings: Settings) -> None:
    today = datetime.now(UTC).date()
    code, out, err = await misync(settings, "run-retention", "--as-of", str(today - timedelta(days=1)))
    assert code == 0, err
    (counts,) = lines(out)
    assert counts["as_of"] == str(today - timedelta(days=1)) and "results_anonymised" in counts
    code, _, err = await misync(settings, "run-retention", "--as-of", str(today + timedelta(days=2)))
    assert code == 1 and "after today" in err


async def test_worker_health(settings: Settings, worker: subprocess.Popen[bytes]) -> None:
    lonely = settings.model_copy(update={"queue_name": f"misync:test:nobody:{uuid.uuid4().hex[:6]}"})
    code, out, _ = await misync(lonely, "worker-health")
    assert code == 1 and out.strip() == "none seen"

    deadline = time.monotonic() + 30
    while True:  # the session worker writes its health check within its first seconds
        code, out, _ = await misync(settings, "worker-health")
        if code == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert code == 0 and out.startswith("ok (seen ") and "j_complete=" in out, out
