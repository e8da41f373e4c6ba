"""Request and response bodies for webhooks and their deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, WithJsonSchema, field_validator

from app.events import EVENT_TYPES
from app.schemas import Body
from app.webhooks import ssrf

WebhookStatus = Literal["active", "failing", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "failed", "gave_up"]


def _known_event(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"unknown event type; known types: {', '.join(EVENT_TYPES)}")
    return value


def _http_url(value: str) -> str:
    try:
        ssrf.split(value)
    except ssrf.Refused as exc:
        raise ValueError(exc.reason) from None
    return value


# The enum is read from app.events at import, so a new event type is accepted and documented at once.
EventType = Annotated[str, AfterValidator(_known_event), WithJsonSchema({"type": "string", "enum": list(EVENT_TYPES)})]
WebhookUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(_http_url)
]


class WebhookCreate(Body):
    """A receiver: an ``http(s)`` URL that must reach a public address, and the events it wants."""

    url: WebhookUrl = Field(description="Where events are POSTed (http or https; public addresses only).")
    events: list[EventType] = Field(
        default_factory=list,
        max_length=50,
        description="Event types to deliver; empty or absent: every type.",
    )

    @field_validator("events")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WebhookOut(BaseModel):
    """A webhook. ``status``: ``active``; ``failing`` after repeated failed attempts (still delivered to,
    back to ``active`` on the next success); ``disabled`` after the receiver answered 410 Gone (nothing is
    delivered any more; create a new webhook to resume)."""

    id: uuid.UUID
    url: str
    events: list[str] = Field(description="Event types delivered; empty: every type.")
    status: WebhookStatus
    consecutive_failures: int = Field(description="Failed attempts since the last successful one.")
    created_at: datetime
    disabled_at: datetime | None


class WebhookCreated(WebhookOut):
    """A new webhook, with its signing secret: shown in this answer only, store it now."""

    secret: str = Field(
        description="The Standard Webhooks signing secret (`whsec_` and base64). Shown once; never returned again."
    )


class DeliveryOut(BaseModel):
    """One event for one webhook. ``status``: ``pending`` (not tried yet, or a redelivery is queued),
    ``failed`` (the last attempt failed; another follows at ``next_attempt_at``), ``delivered``, or
    ``gave_up`` (retries exhausted, or the webhook was disabled)."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    message_id: str = Field(description="The `webhook-id` header: the same on every attempt of this delivery.")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The HTTP status of the last answer (null: no answer).")
    latency_ms: int | None = Field(description="How long the last attempt waited for the answer.")
    response_body: str | None = Field(description="The first KiB of the last answer's body.")
    error: str | None = Field(description="Why the last attempt failed, if it did.")
    created_at: datetime = Field(description="When the event happened (the log's order, newest first).")
    delivered_at: datetime | None
