"""Webhook test fixtures: a real HTTP receiver on loopback, and a database of their own.

Most webhook tests call the dispatch and delivery functions in-process with a clock they control
(retries days apart take no time). They work in a database of their own, which the session's worker
process never sees, so no worker races them for a delivery. One end-to-end test goes through the real
worker on the session database instead.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.config import Settings
from app.db import create_engine, create_session_factory
from app.demo_mis.server import DemoMisServer
from app.main import create_app
from app.models import WebhookDelivery
from app.security import Cipher
from app.webhooks.delivery import Sender
from tests.fixtures.servers import Servers, alembic_config, create_database, drop_database, with_database


@dataclass
class Answer:
    """How the receiver answers one request."""

    status: int = 200
    body: str = "ok"
    sleep: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A Starlette app under real uvicorn: ``/hook/<name>`` records each POST and answers from the
    name's script (then 200 "ok"). Each test uses names of its own."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Answer]] = {}
        self.received: dict[str, list[Received]] = {}
        self.app = Starlette(routes=[Route("/hook/{name}", self._hook, methods=["POST"])])
        self.server = DemoMisServer(self.app)

    async def _hook(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        self.received.setdefault(name, []).append(Received(dict(request.headers), body, time.monotonic()))
        script = self.scripts.get(name) or []
        answer = script.pop(0) if script else Answer()
        if answer.sleep:
            await asyncio.sleep(answer.sleep)
        return Response(answer.body, status_code=answer.status, headers=answer.headers)

    def endpoint(self, *script: Answer | int) -> tuple[str, str]:
        """A fresh hook name answering ``script`` first; returns (name, url)."""
        name = uuid.uuid4().hex[:12]
        self.scripts[name] = [a if isinstance(a, Answer) else Answer(status=a) for a in script]
        return name, f"{self.server.url}/hook/{name}"

    def got(self, name: str) -> list[Received]:
        return list(self.received.get(name, []))

    async def wait_for(self, name: str, count: int = 1, timeout: float = 30.0) -> list[Received]:
        """Wait (polling, with a deadline) until ``name`` got ``count`` requests."""
        deadline = time.monotonic() + timeout
        while len(self.got(name)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver {name} got {len(self.got(name))} of {count} requests")
            await asyncio.sleep(0.05)
        return self.got(name)


@pytest.fixture(scope="package")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    with r.server:
        yield r


@dataclass
class Own:
    """A database of the webhook tests' own, with an API on it (private URLs allowed) and one with the
    SSRF guard on, and what the in-process delivery functions need."""

    settings: Settings
    client: httpx.AsyncClient
    strict_client: httpx.AsyncClient
    session_factory: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    cipher: Cipher

    def sender(self, **policy: Any) -> Sender:
        """A sender with no jitter (exact schedules) unless the test asks for it."""
        return Sender(
            self.session_factory, self.http, self.cipher, **{"allow_private_urls": True, "jitter": 0.0, **policy}
        )

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.session_factory() as session:
            return (await session.execute(text(sql), params)).scalar()


@pytest.fixture(scope="package")
async def own_db(servers: Servers, settings: Settings) -> AsyncIterator[Own]:
    name = f"misync_webhooks_{uuid.uuid4().hex[:8]}"
    await create_database(servers.admin_database_url, name)
    url = with_database(servers.admin_database_url, name)
    await asyncio.to_thread(command.upgrade, alembic_config(url), "heads")
    own_settings = settings.model_copy(update={"database_url": url})
    strict_settings = own_settings.model_copy(update={"webhook_allow_private_urls": False})
    app, strict_app = create_app(own_settings), create_app(strict_settings)
    engine = create_engine(url, pool_size=5)
    try:
        async with (
            app.router.lifespan_context(app),
            strict_app.router.lifespan_context(strict_app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://misync") as client,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=strict_app), base_url="http://strict") as strict,
            httpx.AsyncClient(follow_redirects=False) as http,
        ):
            yield Own(
                own_settings,
                client,
                strict,
                create_session_factory(engine),
                http,
                Cipher(own_settings.secret_key_bytes()),
            )
    finally:
        await engine.dispose()
        await drop_database(servers.admin_database_url, name)


@pytest.fixture
async def own(own_db: Own) -> AsyncIterator[Own]:
    """The own database; deliveries a test leaves open are closed after it, so tests stay independent."""
    yield own_db
    async with own_db.session_factory() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.status).in_(("pending", "failed")))
            .values(status="gave_up", next_attempt_at=None)
        )
        await session.commit()
