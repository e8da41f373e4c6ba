"""Webhook decisions for the API: register (secret shown once, stored encrypted), list, delete, the
delivery log and manual redelivery. Sending is the worker's (app.webhooks.delivery)."""

from __future__ import annotations

import uuid
from datetime import datetime

from app import audit
from app.errors import BadRequest, Conflict, NotFound, ProblemError, Unprocessable
from app.models import Webhook, WebhookDelivery
from app.models.base import utcnow
from app.pagination import Page, decode_cursor, encode_cursor
from app.security import Cipher
from app.tenancy import Tenant
from app.webhooks import repository, signing, ssrf
from app.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut

#: A school's webhooks are for a few integrations, not one per consumer.
MAX_WEBHOOKS_PER_SCHOOL = 20
CURSOR_SORT = "deliveries"


def to_out(webhook: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(webhook.model_dump(exclude={"secret"}))


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(delivery.model_dump())


async def create(tenant: Tenant, body: WebhookCreate, cipher: Cipher, allow_private_urls: bool) -> WebhookCreated:
    """Register a webhook; Unprocessable naming the reason when the SSRF guard refuses its URL."""
    if not allow_private_urls:
        try:
            await ssrf.check(body.url)
        except ssrf.Refused as exc:
            raise Unprocessable(
                f"The webhook URL is refused: {exc.reason}",
                errors=[ProblemError(loc=["body", "url"], msg=f"refused by the SSRF guard: {exc.reason}")],
            ) from None
    if await repository.count_webhooks(tenant) >= MAX_WEBHOOKS_PER_SCHOOL:
        raise Conflict(f"A school can have at most {MAX_WEBHOOKS_PER_SCHOOL} webhooks; delete one first")
    secret = signing.new_secret()
    webhook = Webhook(school_id=tenant.school_id, url=body.url, events=body.events, secret=cipher.encrypt_json(secret))
    tenant.session.add(webhook)
    await tenant.session.flush()
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="webhook.created",
        entity_type="webhook",
        entity_id=webhook.id,
        data={"events": body.events},
    )
    return WebhookCreated(**to_out(webhook).model_dump(), secret=secret)


async def list_webhooks(tenant: Tenant) -> list[WebhookOut]:
    return [to_out(w) for w in await repository.list_webhooks(tenant)]


async def get(tenant: Tenant, webhook_id: uuid.UUID) -> Webhook:
    return await tenant.get(Webhook, webhook_id, "webhook")


async def delete(tenant: Tenant, webhook_id: uuid.UUID) -> None:
    """Delete a webhook, its delivery log and its pending deliveries."""
    webhook = await get(tenant, webhook_id)
    await tenant.session.delete(webhook)
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="webhook.deleted",
        entity_type="webhook",
        entity_id=webhook.id,
    )


async def deliveries_page(tenant: Tenant, webhook_id: uuid.UUID, limit: int, cursor: str | None) -> Page[DeliveryOut]:
    webhook = await get(tenant, webhook_id)
    before = None
    if cursor:
        try:
            created, did = decode_cursor(cursor, CURSOR_SORT)
            before = (datetime.fromisoformat(created), uuid.UUID(did))
        except (TypeError, ValueError) as exc:
            raise BadRequest("The cursor is not one this service made") from exc
    rows = list(await repository.deliveries_newest_first(tenant, webhook.id, limit, before))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(CURSOR_SORT, [last.created_at.isoformat(), str(last.id)])
    return Page[DeliveryOut](items=[delivery_out(d) for d in rows[:limit]], next_cursor=next_cursor)


async def redeliver(tenant: Tenant, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryOut:
    """Queue one more attempt of a delivery now, with the same ``webhook-id``; Conflict when the webhook
    is disabled."""
    webhook = await get(tenant, webhook_id)
    delivery = await repository.lock_delivery(tenant, webhook.id, delivery_id)
    if delivery is None:
        raise NotFound(f"No delivery with id {delivery_id}")
    if webhook.status == "disabled":
        raise Conflict("The webhook is disabled (its receiver answered 410 Gone); create a new webhook")
    delivery.status, delivery.next_attempt_at = "pending", utcnow()
    await tenant.session.flush()
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="webhook.redelivery_requested",
        entity_type="webhook_delivery",
        entity_id=delivery.id,
        data={"webhook_id": str(webhook.id)},
    )
    return delivery_out(delivery)
