"""A real sync after anonymisation changes nothing in the anonymised data, and never re-links it."""

from __future__ import annotations

import subprocess

import httpx

from app.demo_mis.server import DemoMisServer
from tests.results.conftest import Db, record, run_retention, visible
from tests.sync.flow import mis_school


async def test_sync_after_anonymisation_leaves_anonymised_results_alone(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    worker: subprocess.Popen[bytes],
    db: Db,
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=60)
    await school.map_by_name()
    first = await school.preview()
    assert (await school.apply(first["id"]))["status"] == "succeeded"
    pupils = await school.pupils()
    inactive, active = pupils[:20], pupils[20:40]
    await record(
        client,
        school.keys,
        *[(p["id"], "PTE", "2015-09-15", {"sas": 100 + n}) for n, p in enumerate(inactive)],
        *[(p["id"], "ART", "2015-09-15", {"sas": 90}) for p in inactive[:5]],
        *[(p["id"], "PTE", "2019-09-15", {"sas": 101}) for p in active],
    )
    await run_retention(client, admin_headers, "2018-01-01")
    anonymised = [r for r in await db.results(school.keys.id) if r["anonymised_at"] is not None]
    assert len(anonymised) == 20  # PTE of the inactive learners; ART waits a year more

    # September: leavers, a new intake and promotions, applied by a real sync; then one more sync.
    school.demo_call("POST", "/rollover")
    await school.map_by_name()
    for _ in range(2):
        plan = await school.preview()
        assert plan["status"] in ("awaiting_review", "held"), plan
        done = await school.apply(plan["id"], {"override_guard": True} if plan["status"] == "held" else None)
        assert done["status"] == "succeeded", done

    rows = await db.results(school.keys.id)
    assert [r for r in rows if r["anonymised_at"] is not None] == anonymised  # byte for byte
    assert sum(r["pupil_id"] is not None for r in rows) == 5 + 20  # ART of the inactive, PTE of the active
    for p in inactive[5:]:
        assert await visible(client, school.keys, p["id"]) == []
    for p in inactive[:5]:
        assert await visible(client, school.keys, p["id"]) == [("ART", "2015-09-15")]
    # Year groups at the time did not follow the promotion.
    year_then = {p["id"]: p["year_group"] for p in pupils}
    now = {p["id"]: p["year_group"] for p in await school.pupils()}
    linked = [r for r in rows if r["pupil_id"] is not None]
    assert all(r["year_group"] == year_then[str(r["pupil_id"])] for r in linked)
    assert any(now.get(str(r["pupil_id"])) != r["year_group"] for r in linked)  # promoted since
