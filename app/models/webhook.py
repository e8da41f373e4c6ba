"""Webhook endpoints of a school and the delivery of each outbox event to each of them."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, optional_time_field, school_fk, time_field


class Webhook(SQLModel, table=True):
    """A receiver URL. ``status``: ``active``, ``failing`` (still delivered to) or ``disabled`` (no more)."""

    __tablename__ = "webhooks"
    __table_args__ = (sa.Index("ix_webhooks_school_created", "school_id", "created_at"),)

    id: uuid.UUID = id_field()
    school_id: uuid.UUID = school_fk()
    url: str = Field(max_length=2000)
    #: Event types to deliver; empty: every type.
    events: list[str] = json_field(default_factory=list)
    #: Fernet token of the ``whsec_...`` signing secret; never returned after creation.
    secret: str
    status: str = Field(default="active", max_length=20)
    #: Failed attempts since the last success (any delivery of this webhook).
    consecutive_failures: int = 0
    created_at: datetime = time_field()
    disabled_at: datetime | None = optional_time_field()


class WebhookDelivery(SQLModel, table=True):
    """One event for one webhook: its attempts so far and what the last one got.

    ``status``: ``pending`` (not tried yet, or a redelivery was asked for), ``failed`` (the last attempt
    failed; another is due at ``next_attempt_at``), ``delivered`` or ``gave_up`` (no more attempts).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("webhook_id", "event_id"),
        sa.Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
        sa.Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=sa.text("status IN ('pending', 'failed')"),
        ),
    )

    id: uuid.UUID = id_field()
    school_id: uuid.UUID = school_fk()
    webhook_id: uuid.UUID = Field(foreign_key="webhooks.id", ondelete="CASCADE")
    event_id: uuid.UUID = Field(foreign_key="outbox_events.id", ondelete="CASCADE", index=True)
    event_type: str = Field(max_length=100)
    #: The ``webhook-id`` header: the same on every attempt, so receivers can drop duplicates.
    message_id: str = Field(max_length=100)
    attempts: int = 0
    status: str = Field(default="pending", max_length=20)
    next_attempt_at: datetime | None = optional_time_field()
    last_attempt_at: datetime | None = optional_time_field()
    last_status_code: int | None = None
    latency_ms: int | None = None
    #: The start of the last answer's body (at most 1 KiB).
    response_body: str | None = Field(default=None, max_length=4000)
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = time_field()
    delivered_at: datetime | None = optional_time_field()
