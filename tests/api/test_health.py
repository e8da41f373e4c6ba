"""Liveness, readiness and metrics."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from app.config import Settings
from app.main import create_app
from tests.helpers import assert_problem


async def test_healthz_readyz_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await client.get("/readyz")
    body = ready.json()
    assert body["status"] == "ok" and body["checks"]["postgres"] == body["checks"]["redis"] == "ok"
    # Workers are reported, never a reason for 503 (the API serves without them).
    assert body["checks"]["workers"] == "none seen" or body["checks"]["workers"].startswith("ok")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and "misync_http_requests_total" in metrics.text


@pytest.mark.parametrize("broken", ["database_url", "redis_url"])
async def test_readyz_is_503_when_a_dependency_is_down(settings: Settings, broken: str) -> None:
    down = {"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/none", "redis_url": "redis://127.0.0.1:1/0"}
    app = create_app(settings.model_copy(update={broken: down[broken]}))
    # The Redis pool connects lazily, so the app starts even with Redis down.
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        body = assert_problem(await c.get("/readyz"), 503)
        name = "postgres" if broken == "database_url" else "redis"
        assert body["checks"][name].startswith("down")
        assert (await c.get("/healthz")).status_code == 200


def test_refuses_to_start_with_weak_secrets(settings: Settings) -> None:
    from app.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="MISYNC_ADMIN_TOKEN"):
        create_app(settings.model_copy(update={"admin_token": None}))
    with pytest.raises(ConfigurationError, match="MISYNC_SECRET_KEY"):
        create_app(settings.model_copy(update={"secret_key": SecretStr("short")}))
