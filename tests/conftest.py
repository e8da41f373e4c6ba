"""Fixtures for the whole suite. See tests/fixtures/servers.py for how tests are isolated."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.demo_mis.app import create_app as create_demo_mis
from app.demo_mis.server import DemoMisServer
from app.main import create_app
from tests.fixtures import servers as servers_mod

ADMIN_TOKEN = "test-operator-token-0123456789abcdef"
SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnop"


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers_mod.Servers]:
    s = servers_mod.start(tmp_path_factory.mktemp("servers"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def settings(servers: servers_mod.Servers) -> Settings:
    return Settings(
        database_url=servers.database_url,
        redis_url=servers.redis_url,
        admin_token=ADMIN_TOKEN,
        secret_key=SECRET_KEY,
        webhook_allow_private_urls=True,
        queue_name=f"misync:test:{uuid.uuid4().hex[:8]}",
    )


def worker_env(settings: Settings) -> dict[str, str]:
    """Environment for a worker or API process using the test servers."""
    return {
        **os.environ,
        "MISYNC_DATABASE_URL": settings.database_url,
        "MISYNC_REDIS_URL": settings.redis_url,
        "MISYNC_ADMIN_TOKEN": ADMIN_TOKEN,
        "MISYNC_SECRET_KEY": SECRET_KEY,
        "MISYNC_QUEUE_NAME": settings.queue_name,
        "MISYNC_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "MISYNC_LOG_LEVEL": "INFO",
        "MISYNC_JOB_STALE_AFTER_S": str(settings.job_stale_after_s),
    }


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://misync") as c:
        yield c


@pytest.fixture(scope="session")
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class SchoolKeys:
    """A fresh school with a coordinator and a viewer key: each test works in its own tenant."""

    id: str
    coordinator: dict[str, str]
    viewer: dict[str, str]


async def make_school(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    mis: dict[str, object] | None = None,
    name: str = "Test School",
) -> SchoolKeys:
    body: dict[str, object] = {"name": name}
    if mis is not None:
        body["mis"] = mis
    r = await client.post("/v1/admin/schools", json=body, headers=admin_headers)
    assert r.status_code == 201, r.text
    school_id = r.json()["id"]
    keys = {}
    for role in ("coordinator", "viewer"):
        k = await client.post(f"/v1/admin/schools/{school_id}/api-keys", json={"role": role}, headers=admin_headers)
        assert k.status_code == 201, k.text
        keys[role] = {"Authorization": f"Bearer {k.json()['key']}"}
    return SchoolKeys(school_id, keys["coordinator"], keys["viewer"])


@pytest.fixture
async def school(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> SchoolKeys:
    return await make_school(client, admin_headers)


@pytest.fixture(scope="session")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    """A real arq worker process on the test servers (stopped at the end of the session)."""
    log = Path(tmp_path_factory.mktemp("worker")) / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "arq", "workers.settings.WorkerSettings"],
            env=worker_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=servers_mod.REPO,
        )
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def demo_mis() -> Iterator[DemoMisServer]:
    """The demo MIS under real uvicorn on an ephemeral port (both Wonde and OneRoster)."""
    with DemoMisServer(create_demo_mis(seed=11, default_pupils=200)) as server:
        yield server


def wonde_connection(demo: DemoMisServer, ref: str, token: str = "demo-wonde-token") -> dict[str, object]:
    return {"provider": "wonde", "base_url": f"{demo.url}/v1.0", "school_ref": ref, "credentials": {"token": token}}


def oneroster_connection(demo: DemoMisServer, ref: str, secret: str = "demo-secret") -> dict[str, object]:
    return {
        "provider": "oneroster",
        "base_url": f"{demo.url}/ims/oneroster/rostering/v1p2",
        "school_ref": ref,
        "credentials": {"client_id": "demo-client", "client_secret": secret, "token_url": f"{demo.url}/oauth/token"},
    }


def demo_ref(request: pytest.FixtureRequest) -> str:
    """A demo MIS school ref of this test's own."""
    return "T-" + re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60] + "-" + uuid.uuid4().hex[:6]
