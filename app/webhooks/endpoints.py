"""Webhook endpoints: wiring only."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from app.auth import Coordinator, Reader
from app.errors import COMMON_PROBLEMS, problems
from app.pagination import Cursor, Limit, Page, page_of
from app.webhooks import service
from app.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=COMMON_PROBLEMS)


class WebhookList(Page[WebhookOut]):
    """Every webhook of the school, oldest first (one page: a school has at most 20)."""


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated, responses=problems(409))
async def create_webhook(request: Request, tenant: Coordinator, body: WebhookCreate) -> WebhookCreated:
    """Register a webhook for the school's events (`events` empty: all of them).

    The answer holds the signing `secret` (`whsec_...`): it is shown this once and stored encrypted.
    Each event is POSTed as JSON `{"type", "timestamp", "data"}` with the Standard Webhooks headers
    `webhook-id` (the same on every retry: drop duplicates by it), `webhook-timestamp` and
    `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed
    with the base64-decoded part of the secret after `whsec_`).

    A 2xx answer within 10 seconds is a delivery; redirects are not followed (a 3xx is a failure).
    Failed attempts are retried with backoff (about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and
    20 h later, each varied by up to 20%: ten attempts over about three days). An answer 410 Gone disables
    the webhook. Five failed attempts in a row mark it `failing` (it is still delivered to); a success
    makes it `active` again.

    The URL must be http or https and reach a public address: loopback, private, link-local and cloud
    metadata addresses are refused (422), here and again before every attempt."""
    return await service.create(
        tenant, body, request.app.state.cipher, request.app.state.settings.webhook_allow_private_urls
    )


@router.get("", response_model=WebhookList)
async def list_webhooks(tenant: Reader, limit: Limit = 100, cursor: Cursor = None) -> WebhookList:
    """The school's webhooks (their secrets are never shown again)."""
    page = page_of(await service.list_webhooks(tenant), "webhooks", limit, cursor)
    return WebhookList(items=page.items, next_cursor=page.next_cursor, total=page.total)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(tenant: Coordinator, webhook_id: uuid.UUID) -> None:
    """Delete a webhook with its delivery log; nothing more is sent to it."""
    await service.delete(tenant, webhook_id)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
async def list_webhook_deliveries(
    tenant: Reader, webhook_id: uuid.UUID, limit: Limit = 100, cursor: Cursor = None
) -> Page[DeliveryOut]:
    """The webhook's deliveries, newest first: one per event, with its status, attempts, and the last
    attempt's status code, latency, the first KiB of the answer and the error."""
    return await service.deliveries_page(tenant, webhook_id, limit, cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
    responses=problems(409),
)
async def redeliver_webhook_delivery(tenant: Coordinator, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryOut:
    """Send a delivery again (delivered or not), within seconds, with the same `webhook-id`.

    409 when the webhook is disabled."""
    return await service.redeliver(tenant, webhook_id, delivery_id)
