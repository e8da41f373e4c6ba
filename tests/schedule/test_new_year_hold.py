"""End to end on the demo MIS: after the MIS moves to a new academic year, an apply-mode (scheduled)
sync is held for review with guard kind ``rollover`` and applies nothing; a preview is not held; once
the coordinator applies the promotion, apply-mode syncs run on their own again."""

from __future__ import annotations

import subprocess

import httpx

from app.demo_mis.server import DemoMisServer
from tests.sync.flow import mis_school


async def test_first_apply_of_a_new_year_is_held(
    client: httpx.AsyncClient, admin_headers: dict[str, str], demo_mis: DemoMisServer, worker: subprocess.Popen[bytes]
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=200)
    await school.map_by_name()
    first = await school.job({"kind": "pupils", "mode": "apply"})
    assert first["status"] == "succeeded", first  # a first import is never held
    before = {p["id"]: (p["year_group"], p["sync_status"], sorted(p["class_ids"])) for p in await school.pupils()}

    rollover = school.demo_call("POST", "/rollover")
    await school.map_by_name()  # the new year's registration groups, set up on the classes of their names

    held = await school.job({"kind": "pupils", "mode": "apply"})
    assert held["status"] == "held", held
    guard = held["guard"]
    assert guard["held"] is True and guard["kind"] == "rollover"
    assert "new academic year" in guard["reason"]
    assert guard["numbers"]["promoted_share"] > 0.5
    assert held["applied"] is None and held["finished_at"] is None
    after = {p["id"]: (p["year_group"], p["sync_status"], sorted(p["class_ids"])) for p in await school.pupils()}
    assert after == before, "a held plan applies nothing"

    events = (await client.get("/v1/audit-events", params={"job_id": held["id"]}, headers=school.h)).json()["items"]
    assert "sync_job.held" in {e["action"] for e in events}

    # A preview is reviewed anyway: not held for the new year (and it supersedes the held plan).
    preview = await school.preview()
    assert preview["status"] == "awaiting_review", preview
    assert preview["guard"] is None or preview["guard"]["held"] is False

    # The coordinator decides: the next apply-mode run is held again until the promotion is applied.
    again = await school.job({"kind": "pupils", "mode": "apply"})
    assert again["status"] == "held" and again["guard"]["kind"] == "rollover"
    done = await school.apply(again["id"], {"override_guard": True})
    assert done["status"] == "succeeded", done
    assert done["applied"]["desynced"] == len(rollover["left"])

    quiet = await school.job({"kind": "pupils", "mode": "apply"})
    assert quiet["status"] == "succeeded", quiet
    assert quiet["guard"] is None or quiet["guard"]["held"] is False
