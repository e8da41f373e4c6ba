"""Fixtures: a real uvicorn server running the simulator on an ephemeral port."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from app.demo_mis.app import create_app
from app.demo_mis.server import DemoMisServer

WONDE_TOKEN = "demo-wonde-token"
P = "/ims/oneroster/rostering/v1p2"


@pytest.fixture(scope="session")
def server() -> Iterator[DemoMisServer]:
    with DemoMisServer(create_app(seed=7, default_pupils=300)) as srv:
        yield srv


@pytest.fixture
def fresh_server() -> Iterator[DemoMisServer]:
    """A private server, for tests whose settings span schools (demographics)."""
    with DemoMisServer(create_app(seed=7, default_pupils=120)) as srv:
        yield srv


@pytest.fixture
def client(server: DemoMisServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture
def ref(request: pytest.FixtureRequest, client: httpx.Client) -> Iterator[str]:
    """A school ref of this test's own (forgotten afterwards, faults included)."""
    name = "T-" + re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60]
    yield name
    client.delete(f"/_demo/schools/{name}")


@pytest.fixture
def wonde() -> dict[str, str]:
    return {"Authorization": f"Bearer {WONDE_TOKEN}"}


def oneroster_token(client: httpx.Client, scope: str | None = None) -> dict[str, str]:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    r = client.post("/oauth/token", data=data, auth=("demo-client", "demo-secret"))
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def oneroster(client: httpx.Client) -> dict[str, str]:
    return oneroster_token(client)
