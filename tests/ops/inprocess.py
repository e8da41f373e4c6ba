"""Jobs run in the test process: an API on a private queue that no worker listens to, and the worker's
services built here, so a test runs each job itself (``run_job``) and reads this process's metrics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from app import queue
from app.config import Settings
from app.db import create_engine, create_session_factory
from app.demo_mis.server import DemoMisServer
from app.security import Cipher
from app.sync import handlers  # noqa: F401  (registers the job handlers)
from app.sync.runner import Services, run_job
from tests.conftest import SchoolKeys, make_school, wonde_connection
from tests.fixtures.workers import private_queue


@dataclass
class Harness:
    client: httpx.AsyncClient
    settings: Settings
    services: Services
    admin: dict[str, str]

    async def run(self, job_id: str | uuid.UUID) -> str:
        return await run_job(self.services, uuid.UUID(str(job_id)))

    async def job(self, keys: SchoolKeys, body: dict[str, Any]) -> dict[str, Any]:
        """Submit a job through the API and run it here; the job as the API shows it after."""
        r = await self.client.post("/v1/sync-jobs", json=body, headers=keys.coordinator)
        assert r.status_code == 202, r.text
        await self.run(r.json()["id"])
        return await self.get_job(keys, r.json()["id"])

    async def get_job(self, keys: SchoolKeys, job_id: str | uuid.UUID) -> dict[str, Any]:
        r = await self.client.get(f"/v1/sync-jobs/{job_id}", headers=keys.viewer)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def mis_school(self, demo: DemoMisServer, pupils: int = 60, *, mapped: bool = True) -> SchoolKeys:
        """A school on its own demo MIS school; with ``mapped``, every registration group set up."""
        ref = f"O-{uuid.uuid4().hex[:10]}"
        r = httpx.put(f"{demo.url}/_demo/schools/{ref}", json={"pupils": pupils, "seed": 3}, timeout=60)
        assert r.status_code < 400, r.text
        keys = await make_school(self.client, self.admin, mis=wonde_connection(demo, ref))
        if mapped:
            job = await self.job(keys, {"kind": "registration_groups"})
            assert job["status"] == "succeeded", job
            groups = (await self.client.get("/v1/mis/registration-groups?limit=1000", headers=keys.coordinator)).json()[
                "items"
            ]
            mappings = [{"mis_group_id": g["mis_group_id"], "class_id": None, "set_up": True} for g in groups]
            r = await self.client.put("/v1/class-mappings", json={"mappings": mappings}, headers=keys.coordinator)
            assert r.status_code == 200, r.text
        return keys


@asynccontextmanager
async def in_process(settings: Settings, admin: dict[str, str]) -> AsyncIterator[Harness]:
    async with private_queue(settings) as (client, own):
        engine = create_engine(own.database_url, pool_size=5)
        redis = queue.connect(own.redis_url)
        http = httpx.AsyncClient(follow_redirects=False)
        services = Services(
            settings=own,
            engine=engine,
            session_factory=create_session_factory(engine),
            redis=redis,
            http=http,
            cipher=Cipher(own.secret_key_bytes()),
        )
        try:
            yield Harness(client, own, services, admin)
        finally:
            await http.aclose()
            await redis.aclose(close_connection_pool=True)
            await engine.dispose()
