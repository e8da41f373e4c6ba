"""Every fault mode of the demo MIS, end to end through the API and a real worker, for both providers.

A school is synced, then the MIS changes (a pupil joins, another is renamed) and the fault is armed on
the students endpoint before an ``apply`` sync. Transient faults are retried and the sync applies the
changes; the others end in a failed job whose problem names a machine-readable ``code``, or (an empty
answer while synced pupils exist) a held job; either way nothing of the roster changes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.demo_mis.app import create_app as create_demo_mis
from app.demo_mis.faults import MODES
from app.demo_mis.server import DemoMisServer
from tests.conftest import make_school, oneroster_connection, wonde_connection
from tests.helpers import wait_for_job

PUPILS = 30
PROVIDERS = ("wonde", "oneroster")


@dataclass(frozen=True)
class Expect:
    fault: dict[str, Any]
    status: str  # succeeded | failed | held
    code: str | None = None


#: Every mode of app.demo_mis.faults, with what a sync does under it.
CASES: dict[str, Expect] = {
    "server_error": Expect({"mode": "server_error", "count": 2}, "succeeded"),
    "server_error_always": Expect({"mode": "server_error"}, "failed", "unavailable"),
    "rate_limited": Expect({"mode": "rate_limited", "count": 2, "retry_after": 1}, "succeeded"),
    "unauthorized": Expect({"mode": "unauthorized"}, "failed", "credentials_rejected"),
    "forbidden": Expect({"mode": "forbidden"}, "failed", "credentials_rejected"),
    "slow": Expect({"mode": "slow", "count": 1, "delay_ms": 1500}, "succeeded"),
    "empty": Expect({"mode": "empty"}, "held"),
    "no_envelope": Expect({"mode": "no_envelope"}, "failed", "bad_response"),
    "truncated": Expect({"mode": "truncated"}, "failed", "bad_response"),
    "duplicate_ids": Expect({"mode": "duplicate_ids"}, "failed", "bad_response"),
    "malformed_record": Expect({"mode": "malformed_record"}, "failed", "bad_response"),
}


def test_every_fault_mode_has_a_case() -> None:
    assert {e.fault["mode"] for e in CASES.values()} == set(MODES.values())


class DemoSchool:
    def __init__(self, demo: DemoMisServer, ref: str) -> None:
        self.demo, self.ref = demo, ref

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        async with httpx.AsyncClient(base_url=f"{self.demo.url}/_demo/schools/{self.ref}", timeout=30) as c:
            r = await c.request(method, path, **kw)
        assert r.status_code < 400, r.text
        return r.json() if r.content else None


async def _pupils(client: httpx.AsyncClient, h: dict[str, str]) -> list[dict[str, Any]]:
    page = (await client.get("/v1/pupils", params={"limit": 1000, "access": "all"}, headers=h)).json()
    assert page["next_cursor"] is None
    return sorted(page["items"], key=lambda p: p["id"])


async def _job(client: httpx.AsyncClient, h: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/v1/sync-jobs", json=body, headers=h)
    assert r.status_code == 202, r.text
    return await wait_for_job(client, h, r.json()["id"], timeout=120)


async def _run(
    client: httpx.AsyncClient, admin: dict[str, str], demo: DemoMisServer, provider: str, case: Expect
) -> None:
    ref = f"fault-{provider}-{uuid.uuid4().hex[:8]}"
    mis = DemoSchool(demo, ref)
    await mis.call("PUT", "", json={"pupils": PUPILS, "seed": 17})
    connection = wonde_connection(demo, ref) if provider == "wonde" else oneroster_connection(demo, ref)
    h = (await make_school(client, admin, mis=connection)).coordinator
    try:
        assert (await _job(client, h, {"kind": "registration_groups"}))["status"] == "succeeded"
        groups = (await client.get("/v1/mis/registration-groups?limit=1000", headers=h)).json()["items"]
        mappings = [{"mis_group_id": g["mis_group_id"], "class_id": None, "set_up": True} for g in groups]
        assert (await client.put("/v1/class-mappings", json={"mappings": mappings}, headers=h)).status_code == 200
        first = await _job(client, h, {"kind": "pupils", "mode": "apply"})
        assert first["status"] == "succeeded", first

        truth = await mis.call("GET", "/truth")
        renamed = truth["pupils"][0]
        await mis.call("PATCH", f"/pupils/{renamed['id']}", json={"surname": "Renamedsurname"})
        group = truth["pupils"][1]["registration_group"]
        await mis.call(
            "POST",
            "/pupils",
            json={"forename": "Newly", "surname": "Arrived", "date_of_birth": "2014-02-03", "group": group},
        )
        before = await _pupils(client, h)
        await mis.call("POST", "/faults", json={**case.fault, "endpoint": "students"})
        job = await _job(client, h, {"kind": "pupils", "mode": "apply"})
        after = await _pupils(client, h)
        assert job["status"] == case.status, (provider, job)
        if case.status == "succeeded":
            assert (await mis.call("GET", "/faults"))["faults"] == [], "the fault never hit"
            assert len(after) == len(before) + 1
            assert {p["surname"] for p in after} >= {"Renamedsurname", "Arrived"}
            return
        assert after == before, "a failed or held sync changed the roster"
        assert job["applied"] is None or not any(job["applied"].values()), job
        if case.status == "failed":
            error = job["error"]
            assert error is not None and error["code"] == case.code, (provider, error)
            assert error["type"].startswith("https://") and error["title"] and error["detail"]
        else:
            assert job["guard"], job  # held: says why
            refused = await client.post(f"/v1/sync-jobs/{job['id']}/apply", json={}, headers=h)
            assert refused.status_code == 409, refused.text  # never applied without an override
    finally:
        await mis.call("DELETE", "")


@pytest.fixture(scope="module")
def demo_per_provider() -> Iterator[dict[str, DemoMisServer]]:
    """A demo MIS of its own per provider. OneRoster's demographics list spans every school of the server,
    and the connector refuses a list that changes while it pages (X-Total-Count or duplicate ids): a
    school created elsewhere on a shared demo MIS during the fetch would fail these syncs."""
    with (
        DemoMisServer(create_demo_mis(seed=3, default_pupils=PUPILS)) as wonde,
        DemoMisServer(create_demo_mis(seed=4, default_pupils=PUPILS)) as oneroster,
    ):
        yield {"wonde": wonde, "oneroster": oneroster}


@pytest.mark.parametrize("name", list(CASES))
async def test_mis_fault_end_to_end(
    name: str,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_per_provider: dict[str, DemoMisServer],
    worker: object,
) -> None:
    await asyncio.gather(*(_run(client, admin_headers, demo_per_provider[p], p, CASES[name]) for p in PROVIDERS))
