"""Webhook and delivery queries.

The school's own reads and writes are scoped by ``Tenant``. The worker's queries (dispatching outbox
events, claiming due deliveries, recording attempts) act for every school at once and take row locks
with ``SKIP LOCKED``, so any number of workers share the work without waiting on each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import OutboxEvent, Webhook, WebhookDelivery
from app.tenancy import Tenant

#: Delivery statuses that still expect an attempt.
OPEN_STATUSES = ("pending", "failed")


# -- the school's webhooks ------------------------------------------------------------------------------


async def count_webhooks(tenant: Tenant) -> int:
    stmt = tenant.select_columns(Webhook, func.count())
    return int((await tenant.session.execute(stmt)).scalar_one())


async def list_webhooks(tenant: Tenant) -> Sequence[Webhook]:
    stmt = tenant.select(Webhook).order_by(col(Webhook.created_at), col(Webhook.id))
    return (await tenant.session.execute(stmt)).scalars().all()


async def deliveries_newest_first(
    tenant: Tenant, webhook_id: uuid.UUID, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> Sequence[WebhookDelivery]:
    """One page (and one row more, to tell whether there is a next page) of a webhook's deliveries."""
    stmt = tenant.select(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook_id)
    if before is not None:
        stmt = stmt.where(tuple_(col(WebhookDelivery.created_at), col(WebhookDelivery.id)) < tuple_(*before))
    stmt = stmt.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()).limit(limit + 1)
    return (await tenant.session.execute(stmt)).scalars().all()


async def lock_delivery(tenant: Tenant, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    stmt = (
        tenant.select(WebhookDelivery)
        .where(col(WebhookDelivery.id) == delivery_id, col(WebhookDelivery.webhook_id) == webhook_id)
        .with_for_update()
    )
    return (await tenant.session.execute(stmt)).scalar_one_or_none()


# -- the worker: dispatching ----------------------------------------------------------------------------


async def lock_undispatched_events(session: AsyncSession, limit: int) -> Sequence[OutboxEvent]:
    """The oldest undispatched outbox events that no other worker holds, locked."""
    stmt = (
        select(OutboxEvent)
        .where(col(OutboxEvent.dispatched_at).is_(None))
        .order_by(col(OutboxEvent.created_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def receiving_webhooks(session: AsyncSession, school_ids: set[uuid.UUID]) -> Sequence[Webhook]:
    """The webhooks of these schools that still take deliveries."""
    stmt = select(Webhook).where(col(Webhook.school_id).in_(school_ids), col(Webhook.status) != "disabled")
    return (await session.execute(stmt)).scalars().all()


async def insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add deliveries; one per (webhook, event) whatever happens (the unique constraint)."""
    if rows:
        await session.execute(
            pg_insert(WebhookDelivery).values(rows).on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
        )


async def mark_dispatched(session: AsyncSession, event_ids: list[uuid.UUID], now: datetime) -> None:
    await session.execute(update(OutboxEvent).where(col(OutboxEvent.id).in_(event_ids)).values(dispatched_at=now))


# -- the worker: delivering -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery taken by this worker for one attempt, with what the attempt needs."""

    id: uuid.UUID
    school_id: uuid.UUID
    webhook_id: uuid.UUID
    message_id: str
    attempts: int
    url: str
    encrypted_secret: str
    payload: dict[str, Any]


async def claim_due(session: AsyncSession, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Take up to ``limit`` due deliveries of webhooks still receiving, and move their next attempt past
    the lease: a worker that dies mid-attempt leaves them due again when the lease ends (at least once)."""
    stmt = (
        select(WebhookDelivery, col(Webhook.url), col(Webhook.secret), col(OutboxEvent.payload))
        .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
        .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
        .where(
            col(WebhookDelivery.status).in_(OPEN_STATUSES),
            col(WebhookDelivery.next_attempt_at) <= now,
            col(Webhook.status) != "disabled",
        )
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    ids = [d.id for d, *_ in rows]
    await session.execute(
        update(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids)).values(next_attempt_at=now + lease)
    )
    return [
        Claimed(d.id, d.school_id, d.webhook_id, d.message_id, d.attempts, url, secret, payload)
        for d, url, secret, payload in rows
    ]


async def record_attempt(session: AsyncSession, delivery_id: uuid.UUID, **values: Any) -> None:
    """Store an attempt's result; ``attempts`` goes up by one."""
    await session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id) == delivery_id)
        .values(attempts=col(WebhookDelivery.attempts) + 1, **values)
    )


async def webhook_succeeded(session: AsyncSession, webhook_id: uuid.UUID) -> None:
    """A success resets the failure count and takes a ``failing`` webhook back to ``active``."""
    await session.execute(
        update(Webhook)
        .where(col(Webhook.id) == webhook_id)
        .values(
            consecutive_failures=0,
            status=case((col(Webhook.status) == "failing", "active"), else_=col(Webhook.status)),
        )
    )


async def webhook_failed(session: AsyncSession, webhook_id: uuid.UUID, failing_after: int) -> None:
    """Count a failed attempt; the ``failing_after``-th in a row marks an ``active`` webhook ``failing``."""
    await session.execute(
        update(Webhook)
        .where(col(Webhook.id) == webhook_id)
        .values(
            consecutive_failures=col(Webhook.consecutive_failures) + 1,
            status=case(
                (
                    (col(Webhook.status) == "active") & (col(Webhook.consecutive_failures) + 1 >= failing_after),
                    "failing",
                ),
                else_=col(Webhook.status),
            ),
        )
    )


async def disable_webhook(session: AsyncSession, webhook_id: uuid.UUID, now: datetime, error: str) -> bool:
    """Disable the webhook and give up its open deliveries; False when it was already disabled (or gone)."""
    result = await session.execute(
        update(Webhook)
        .where(col(Webhook.id) == webhook_id, col(Webhook.status) != "disabled")
        .values(status="disabled", disabled_at=now)
        .returning(col(Webhook.id))
    )
    if result.scalar_one_or_none() is None:
        return False
    await session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.webhook_id) == webhook_id, col(WebhookDelivery.status).in_(OPEN_STATUSES))
        .values(status="gave_up", next_attempt_at=None, error=error)
    )
    return True
