"""The scheduler tick against the database: due schools get one pupils job per local day (apply, or
preview in the summer pause); busy or unmapped schools get none; the schedule API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.config import Settings
from app.demo_mis.server import DemoMisServer
from app.schedule import service as schedule
from tests.conftest import SchoolKeys, make_school
from tests.helpers import assert_problem
from tests.ops.inprocess import Harness, in_process

LONDON = ZoneInfo("Europe/London")


def far_from_now() -> tuple[str, datetime]:
    """A sync time twelve hours from now (so a worker's real-clock tick leaves it alone), and the
    instant it is next due (a fake clock for our ticks)."""
    local = (datetime.now(UTC) + timedelta(hours=12)).astimezone(LONDON).replace(second=0, microsecond=0)
    return local.strftime("%H:%M"), local.astimezone(UTC)


async def set_schedule(h: Harness, keys: SchoolKeys, **body: Any) -> dict[str, Any]:
    r = await h.client.put("/v1/school/schedule", json=body, headers=keys.coordinator)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def tick(h: Harness, now: datetime) -> set[uuid.UUID]:
    return set(
        await schedule.run_tick(
            h.services.session_factory, h.services.redis, h.settings.queue_name, now, max_jitter_s=0
        )
    )


async def scheduled_jobs(h: Harness, keys: SchoolKeys) -> list[dict[str, Any]]:
    items = (await h.client.get("/v1/sync-jobs", params={"kind": "pupils"}, headers=keys.viewer)).json()["items"]
    return list(items)


async def test_tick_creates_one_job_per_day_for_due_mapped_idle_schools(
    settings: Settings, admin_headers: dict[str, str], demo_mis: DemoMisServer
) -> None:
    sync_time, due_at = far_from_now()
    day = due_at.astimezone(LONDON).date()
    async with in_process(settings, admin_headers) as h:
        ready = await h.mis_school(demo_mis)
        unmapped = await h.mis_school(demo_mis, mapped=False)
        busy = await h.mis_school(demo_mis)
        paused = await h.mis_school(demo_mis)
        unscheduled = await h.mis_school(demo_mis)
        for keys in (ready, unmapped, busy):
            await set_schedule(h, keys, sync_time=sync_time)
        md = day.strftime("%m-%d")
        await set_schedule(h, paused, sync_time=sync_time, summer_pause={"from": md, "to": md})
        queued = await h.client.post("/v1/sync-jobs", json={"kind": "registration_groups"}, headers=busy.coordinator)

        await tick(h, due_at - timedelta(minutes=1))
        assert await scheduled_jobs(h, ready) == []  # a minute early
        created = await tick(h, due_at)
        jobs = {k.id: await scheduled_jobs(h, k) for k in (ready, unmapped, busy, paused, unscheduled)}
        assert [j["mode"] for j in jobs[ready.id]] == ["apply"]
        assert [j["mode"] for j in jobs[paused.id]] == ["preview"]
        assert jobs[unmapped.id] == jobs[busy.id] == jobs[unscheduled.id] == []
        assert {uuid.UUID(jobs[ready.id][0]["id"]), uuid.UUID(jobs[paused.id][0]["id"])} <= created
        # Enqueued on the queue (arq job ids are sync_job:<id>).
        assert await h.services.redis.exists(f"arq:job:sync_job:{jobs[ready.id][0]['id']}")

        # Once per local day: later ticks the same day make nothing more for it.
        assert await tick(h, due_at + timedelta(minutes=5)) & {uuid.UUID(jobs[ready.id][0]["id"])} == set()
        assert len(await scheduled_jobs(h, ready)) == 1

        # The busy school runs once its job is done, while the day's window is open.
        r = await h.client.post(f"/v1/sync-jobs/{queued.json()['id']}/cancel", headers=busy.coordinator)
        assert r.status_code == 202, r.text
        await tick(h, due_at + timedelta(minutes=10))
        assert [j["mode"] for j in await scheduled_jobs(h, busy)] == ["apply"]

        # The next day, again one job.
        await h.run(jobs[ready.id][0]["id"])
        await tick(h, due_at + timedelta(days=1))
        assert len(await scheduled_jobs(h, ready)) == 2

        # The schedule answer names the last scheduled job and the next run.
        body = (await h.client.get("/v1/school/schedule", headers=ready.viewer)).json()
        assert body["last_job"]["mode"] == "apply"
        assert body["next_run"]["day"] == (day + timedelta(days=2)).isoformat()


async def test_a_scheduled_apply_job_applies_safe_changes(
    settings: Settings, admin_headers: dict[str, str], demo_mis: DemoMisServer
) -> None:
    sync_time, due_at = far_from_now()
    async with in_process(settings, admin_headers) as h:
        keys = await h.mis_school(demo_mis, pupils=40)
        await set_schedule(h, keys, sync_time=sync_time, summer_pause=None)
        await tick(h, due_at)
        (job,) = await scheduled_jobs(h, keys)
        await h.run(job["id"])
        done = await h.get_job(keys, job["id"])
        assert done["status"] == "succeeded" and done["mode"] == "apply", done
        assert done["applied"]["created"] == done["counts"]["new"] > 0


async def test_schedule_api(client: httpx.AsyncClient, admin_headers: dict[str, str], school: SchoolKeys) -> None:
    empty = (await client.get("/v1/school/schedule", headers=school.viewer)).json()
    assert empty["sync_time"] is None and empty["next_run"] is None and empty["last_job"] is None
    assert empty["timezone"] == "Europe/London" and empty["summer_pause"] == {"from": "07-20", "to": "09-05"}

    assert_problem(await client.put("/v1/school/schedule", json={"sync_time": "02:00"}, headers=school.viewer), 403)
    for bad in (
        {"sync_time": "2am"},
        {"sync_time": "24:00"},
        {"timezone": "Atlantis/City"},
        {"summer_pause": {"from": "07-32", "to": "09-05"}},
        {"summer_pause": {"start": "07-20"}},
        {"cron": "0 2 * * *"},
    ):
        assert_problem(await client.put("/v1/school/schedule", json=bad, headers=school.coordinator), 422)

    body = {"sync_time": "01:30", "timezone": "Europe/Dublin", "summer_pause": {"from": "12-20", "to": "01-04"}}
    r = await client.put("/v1/school/schedule", json=body, headers=school.coordinator)
    assert r.status_code == 200, r.text
    out = r.json()
    assert {k: out[k] for k in body} == body
    assert out["next_run"]["mode"] in ("apply", "preview")
    at = datetime.fromisoformat(out["next_run"]["at"])
    local = at.astimezone(ZoneInfo("Europe/Dublin"))
    assert timedelta(0) <= local - local.replace(hour=1, minute=30, second=0, microsecond=0) <= timedelta(minutes=15)

    # The same fields are the school's settings (other settings untouched), which the operator can patch.
    settings = (await client.get("/v1/school", headers=school.viewer)).json()["settings"]
    assert settings["sync_time"] == "01:30" and settings["pending_deletion_days"] == 180
    r = await client.patch(
        f"/v1/admin/schools/{school.id}", json={"settings": {"sync_time": None}}, headers=admin_headers
    )
    assert r.status_code == 200 and r.json()["settings"]["sync_time"] is None
    assert (await client.get("/v1/school/schedule", headers=school.viewer)).json()["next_run"] is None
    audit = (
        await client.get("/v1/audit-events", params={"action": "school.schedule_updated"}, headers=school.viewer)
    ).json()
    assert audit["items"][0]["data"]["sync_time"] == "01:30"


async def test_a_school_without_mis_is_never_scheduled(
    settings: Settings, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    sync_time, due_at = far_from_now()
    keys = await make_school(client, admin_headers)
    await client.put("/v1/school/schedule", json={"sync_time": sync_time}, headers=keys.coordinator)
    async with in_process(settings, admin_headers) as h:
        await tick(h, due_at)
        assert await scheduled_jobs(h, keys) == []
