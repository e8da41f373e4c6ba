"""The daily cron job runs the same retention run for today."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
from arq.cron import CronJob

from app.config import Settings
from app.db import create_engine, create_session_factory
from tests.conftest import SchoolKeys
from tests.results.conftest import Db, add_pupil, record, visible
from workers.jobs import run_retention
from workers.settings import WorkerSettings


async def test_daily_job_anonymises_for_today(
    client: httpx.AsyncClient, school: SchoolKeys, settings: Settings, db: Db
) -> None:
    jobs = [j for j in WorkerSettings.cron_jobs if isinstance(j, CronJob) and j.coroutine is run_retention]
    assert len(jobs) == 1 and jobs[0].unique
    p = await add_pupil(client, school, "Long", "Gone")
    await record(client, school, (p, "PTE", "2000-01-01", {"sas": 100}))
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        ctx = {"services": SimpleNamespace(session_factory=create_session_factory(engine))}
        out = await run_retention(ctx)
        assert out["results_anonymised"] >= 1
        assert (await run_retention(ctx))["results_anonymised"] == 0
    finally:
        await engine.dispose()
    assert await visible(client, school, p) == []
    assert [a["actor"] for a in await db.audit(school.id, "results.anonymised")] == ["system"]
