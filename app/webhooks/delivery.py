"""Delivering outbox events to webhooks (the worker's side), at least once.

Two steps, each safe to run in any number of workers at once (``FOR UPDATE SKIP LOCKED``):

1. ``dispatch``: take undispatched outbox events, add one delivery per receiving webhook of the event's
   school (created before the event; the event filter matches), mark the events dispatched, commit.
2. ``deliver_due``: claim due deliveries (a lease pushes their next attempt two minutes out, so a worker
   that dies mid-attempt leaves them due again), POST each signed body with bounded concurrency, and
   record each result in its own short transaction.

Retry schedule: after a failed attempt the next one follows after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
14 h, 20 h, 20 h (each varied by up to +/-20% so retries of many deliveries spread out): ten attempts over
about three days (71.6 hours without jitter), then the delivery gives up. A 2xx is success; a 3xx is a
failure (redirects are never followed); 410 Gone disables the webhook and gives up its open deliveries;
anything else (and timeouts, connection errors, SSRF refusals) is retried. ``FAILING_AFTER`` failed
attempts in a row mark the webhook ``failing``; it is still delivered to, and a success makes it
``active`` again. Every attempt of a delivery carries the same ``webhook-id``, so receivers can dedupe.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import audit, metrics
from app.models.base import utcnow
from app.security import Cipher
from app.webhooks import repository, signing, ssrf

log = logging.getLogger("misync.webhooks")

#: Seconds an attempt may take, from connecting to the answer's headers and the start of its body.
TIMEOUT_S = 10.0
#: The waits before the 2nd, 3rd, ... attempt (see the module docstring).
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=20),
)
#: Each wait is multiplied by a random factor in [1 - JITTER, 1 + JITTER].
JITTER = 0.2
#: Failed attempts in a row (any delivery of the webhook) that mark it ``failing``.
FAILING_AFTER = 5
#: How much of an answer's body the delivery log keeps.
RESPONSE_BODY_LIMIT = 1024
ERROR_LIMIT = 1000
#: Outbox events handled per dispatch transaction.
DISPATCH_BATCH = 500
#: Deliveries claimed at once, and attempts in flight at once, per worker.
DELIVERY_BATCH = 20
CONCURRENCY = 10
#: A claimed delivery is due again after this if its attempt was never recorded (the worker died).
LEASE = timedelta(minutes=2)
USER_AGENT = "misync-webhooks/1"


@dataclass
class Sender:
    """What delivering needs, and its policy (tests shorten the timeout and fix the jitter)."""

    session_factory: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    cipher: Cipher
    allow_private_urls: bool = False
    timeout_s: float = TIMEOUT_S
    schedule: Sequence[timedelta] = RETRY_SCHEDULE
    jitter: float = JITTER
    failing_after: int = FAILING_AFTER
    batch: int = DELIVERY_BATCH
    concurrency: int = CONCURRENCY
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self, attempts: int) -> timedelta | None:
        """The wait after the ``attempts``-th failed attempt; None when the schedule is spent."""
        if attempts > len(self.schedule):
            return None
        base = self.schedule[attempts - 1]
        return base * (1 + self.rng.uniform(-self.jitter, self.jitter)) if self.jitter else base


@dataclass(frozen=True, slots=True)
class Result:
    """What one attempt got: an answer (status, latency, start of the body) or an error."""

    status_code: int | None = None
    latency_ms: int | None = None
    body: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


# -- dispatch ---------------------------------------------------------------------------------------------


async def dispatch(
    session_factory: async_sessionmaker[AsyncSession], now: datetime | None = None, batch: int = DISPATCH_BATCH
) -> int:
    """Turn one batch of undispatched outbox events into deliveries; returns how many events."""
    now = now or utcnow()
    async with session_factory() as session:
        events = await repository.lock_undispatched_events(session, batch)
        if not events:
            return 0
        webhooks = await repository.receiving_webhooks(session, {e.school_id for e in events})
        rows: list[dict[str, Any]] = []
        for event in events:
            for webhook in webhooks:
                if (
                    webhook.school_id == event.school_id
                    and webhook.created_at <= event.created_at
                    and (not webhook.events or event.type in webhook.events)
                ):
                    delivery_id = uuid.uuid4()
                    rows.append(
                        {
                            "id": delivery_id,
                            "school_id": event.school_id,
                            "webhook_id": webhook.id,
                            "event_id": event.id,
                            "event_type": event.type,
                            "message_id": f"msg_{delivery_id.hex}",
                            "attempts": 0,
                            "status": "pending",
                            "next_attempt_at": now,
                            # The log lists deliveries in the order their events happened.
                            "created_at": event.created_at,
                        }
                    )
        await repository.insert_deliveries(session, rows)
        await repository.mark_dispatched(session, [e.id for e in events], now)
        await session.commit()
    if rows:
        log.info("webhook deliveries scheduled", extra={"events": len(events), "deliveries": len(rows)})
    return len(events)


# -- delivery ---------------------------------------------------------------------------------------------


def _pinned(url: str, target: ssrf.Target) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL with its host replaced by the checked address, the Host header and TLS server name to keep."""
    original = httpx.URL(url)
    extensions: dict[str, Any] = {"sni_hostname": target.host} if original.scheme == "https" else {}
    return original.copy_with(host=str(target.address)), {"host": original.netloc.decode("ascii")}, extensions


async def _body_start(response: httpx.Response) -> str:
    buf = b""
    async for chunk in response.aiter_bytes():
        buf += chunk
        if len(buf) >= RESPONSE_BODY_LIMIT:
            break
    # PostgreSQL text cannot hold NUL.
    return buf[:RESPONSE_BODY_LIMIT].decode("utf-8", "replace").replace("\x00", "\ufffd")


def _failure(status_code: int) -> str | None:
    if 200 <= status_code < 300:
        return None
    if 300 <= status_code < 400:
        return f"redirect ({status_code}) not followed"
    if status_code == 410:
        return "410 Gone: the webhook is disabled"
    return f"HTTP {status_code}"


async def send(sender: Sender, claimed: repository.Claimed) -> Result:
    """One attempt: check the URL (unless private URLs are allowed), sign the body, POST it."""
    url: str | httpx.URL = claimed.url
    extra_headers: dict[str, str] = {}
    extensions: dict[str, Any] = {}
    if not sender.allow_private_urls:
        try:
            target = await ssrf.check(claimed.url)
        except ssrf.Refused as exc:
            return Result(error=f"refused by SSRF guard: {exc.reason}")
        url, extra_headers, extensions = _pinned(claimed.url, target)
    try:
        secret = str(sender.cipher.decrypt_json(claimed.encrypted_secret))
    except ValueError:
        return Result(error="the signing secret cannot be decrypted with the current MISYNC_SECRET_KEY")
    body = json.dumps(claimed.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        **signing.headers(secret, claimed.message_id, int(time.time()), body),
        "user-agent": USER_AGENT,
        **extra_headers,
    }
    started = time.perf_counter()

    def elapsed_ms() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        # httpx's timeout bounds each phase; the outer one bounds the whole attempt (a slow trickle too).
        async with (
            asyncio.timeout(sender.timeout_s),
            sender.http.stream(
                "POST",
                url,
                content=body,
                headers=headers,
                timeout=sender.timeout_s,
                follow_redirects=False,
                extensions=extensions,
            ) as response,
        ):
            latency = elapsed_ms()
            text = await _body_start(response)
    except (TimeoutError, httpx.TimeoutException):
        return Result(latency_ms=elapsed_ms(), error=f"timed out after {sender.timeout_s:g} s")
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError) as exc:
        return Result(latency_ms=elapsed_ms(), error=f"request failed: {type(exc).__name__}")
    return Result(status_code=response.status_code, latency_ms=latency, body=text, error=_failure(response.status_code))


async def record(sender: Sender, claimed: repository.Claimed, result: Result, now: datetime | None = None) -> str:
    """Store an attempt's result and its effect on the webhook; returns the outcome (metrics label)."""
    now = now or utcnow()
    attempt = {
        "last_attempt_at": now,
        "last_status_code": result.status_code,
        "latency_ms": result.latency_ms,
        "response_body": result.body,
        "error": None if result.error is None else result.error[:ERROR_LIMIT],
    }
    async with sender.session_factory() as session:
        if result.ok:
            outcome = "delivered"
            await repository.record_attempt(
                session, claimed.id, status="delivered", delivered_at=now, next_attempt_at=None, **attempt
            )
            await repository.webhook_succeeded(session, claimed.webhook_id)
        elif result.status_code == 410:
            outcome = "disabled"
            await repository.record_attempt(session, claimed.id, status="gave_up", next_attempt_at=None, **attempt)
            if await repository.disable_webhook(
                session, claimed.webhook_id, now, "the webhook was disabled (its receiver answered 410 Gone)"
            ):
                await audit.record(
                    session,
                    school_id=claimed.school_id,
                    actor="system",
                    action="webhook.disabled",
                    entity_type="webhook",
                    entity_id=claimed.webhook_id,
                    data={"status_code": 410, "delivery_id": str(claimed.id)},
                )
        else:
            delay = sender.next_delay(claimed.attempts + 1)
            outcome = "failed" if delay is not None else "gave_up"
            await repository.record_attempt(
                session,
                claimed.id,
                status=outcome,
                next_attempt_at=None if delay is None else now + delay,
                **attempt,
            )
            await repository.webhook_failed(session, claimed.webhook_id, sender.failing_after)
        await session.commit()
    metrics.WEBHOOK_DELIVERIES.labels(outcome).inc()
    log.info(
        "webhook attempt",
        extra={
            "delivery": str(claimed.id),
            "webhook": str(claimed.webhook_id),
            "attempt": claimed.attempts + 1,
            "outcome": outcome,
            "status_code": result.status_code,
        },
    )
    return outcome


async def deliver_due(sender: Sender, now: datetime | None = None) -> int:
    """Attempt one batch of due deliveries; returns how many were attempted.

    ``now`` (default: the clock) decides what is due and when retries are scheduled; tests pass a later
    time instead of waiting. The signature's timestamp is always the real time of the attempt."""
    async with sender.session_factory() as session:
        claimed = await repository.claim_due(session, now or utcnow(), sender.batch, LEASE)
        await session.commit()
    if not claimed:
        return 0
    limit = asyncio.Semaphore(sender.concurrency)

    async def attempt(item: repository.Claimed) -> None:
        async with limit:
            await record(sender, item, await send(sender, item), now)

    results = await asyncio.gather(*(attempt(c) for c in claimed), return_exceptions=True)
    for item, res in zip(claimed, results, strict=True):
        if isinstance(res, BaseException):
            # Not recorded: the lease ends and the delivery is attempted again (at least once).
            log.error("webhook attempt not recorded", extra={"delivery": str(item.id), "error": type(res).__name__})
    return len(claimed)


async def run(sender: Sender, budget_s: float = 60.0) -> tuple[int, int]:
    """Dispatch every waiting event, then attempt due deliveries for up to ``budget_s`` seconds.

    Returns (events dispatched, attempts made). The worker's cron calls this every few seconds."""
    deadline = time.monotonic() + budget_s
    dispatched = attempted = 0
    while time.monotonic() < deadline:
        n = await dispatch(sender.session_factory)
        dispatched += n
        if n < DISPATCH_BATCH:
            break
    while time.monotonic() < deadline:
        n = await deliver_due(sender)
        attempted += n
        if n < sender.batch:
            break
    return dispatched, attempted
