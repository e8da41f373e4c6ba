"""Fixtures for the security tests: a school with one of every resource, built through the API.

``populated`` makes a school synced from its own demo MIS school with a pupil, a class, a finished
``registration_groups`` job, a pupils preview awaiting review (so plan items exist), a webhook with a
delivered event, and a test result. It needs the session's worker (jobs and webhook deliveries).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.demo_mis.server import DemoMisServer
from tests.conftest import SchoolKeys
from tests.sync.flow import mis_school


async def _ok(request: Request) -> Response:
    await request.body()
    return Response("ok")


@pytest.fixture(scope="session")
def receiver() -> Iterator[DemoMisServer]:
    """A webhook receiver on loopback that answers 200 to every POST."""
    with DemoMisServer(Starlette(routes=[Route("/hook", _ok, methods=["POST"])])) as server:
        yield server


@dataclass
class Populated:
    """A school with one of each resource; ``ids`` maps path parameter names to its real ids."""

    keys: SchoolKeys
    ids: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)


async def populate(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo: DemoMisServer,
    receiver: DemoMisServer,
    pupils: int = 12,
) -> Populated:
    """A synced school (``pupils`` from the demo MIS) with one of every resource (see module docstring)."""
    s = await mis_school(client, admin_headers, demo, pupils=pupils)
    h = s.h
    hook = await client.post("/v1/webhooks", json={"url": f"{receiver.url}/hook", "events": []}, headers=h)
    assert hook.status_code == 201, hook.text
    webhook_id = hook.json()["id"]
    await s.map_by_name()
    groups_job = (await client.get("/v1/sync-jobs", params={"kind": "registration_groups"}, headers=h)).json()
    first = await s.preview(mode="apply")
    assert first["status"] == "succeeded", first
    # A second school pupil not in the MIS, then a preview that stays awaiting review (a plan with items).
    extra = await client.post("/v1/pupils", json={"forename": "Manual", "surname": "Pupil"}, headers=h)
    assert extra.status_code == 201, extra.text
    plan = await s.preview()
    assert plan["status"] == "awaiting_review", plan
    items = await s.items(plan["id"])
    pupils_list = await s.pupils()
    pupil = next(p for p in pupils_list if p["sync_status"] == "synced")
    klass = next(iter((await s.classes()).values()))
    result = await client.post(
        "/v1/results",
        json={"items": [{"pupil_id": pupil["id"], "suite": "PTE", "taken_on": "2025-01-10", "score": {"sas": 101}}]},
        headers=h,
    )
    assert result.status_code == 201, result.text
    delivery_id = await _first_delivery(client, h, webhook_id)
    return Populated(
        keys=s.keys,
        ids={
            "school_id": s.keys.id,
            "job_id": plan["id"],
            "class_id": klass["id"],
            "pupil_id": pupil["id"],
            "webhook_id": webhook_id,
            "delivery_id": delivery_id,
        },
        extra={
            "item_id": items[0]["id"],
            "groups_job_id": groups_job["items"][0]["id"],
            "mis_group_id": klass["mis_group_id"],
            "manual_pupil_id": extra.json()["id"],
            "demo_ref": s.ref,
        },
    )


async def _first_delivery(client: httpx.AsyncClient, h: dict[str, str], webhook_id: str) -> str:
    """The id of the webhook's first delivery, once the worker has delivered it."""
    deadline = time.monotonic() + 60
    while True:
        r = await client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=h)
        assert r.status_code == 200, r.text
        delivered = [d for d in r.json()["items"] if d["status"] == "delivered"]
        if delivered:
            return str(delivered[0]["id"])
        assert time.monotonic() < deadline, r.json()
        await asyncio.sleep(0.1)


@pytest.fixture(scope="session")
def running_worker(worker: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    assert worker.poll() is None, "the session worker died"
    return worker
