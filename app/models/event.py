"""The event outbox: events are written in the same transaction as the change they report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, optional_time_field, school_fk, time_field


class OutboxEvent(SQLModel, table=True):
    """An event to announce (webhooks). A row exists exactly when the change it reports committed."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        sa.Index("ix_outbox_events_undispatched", "created_at", postgresql_where=sa.text("dispatched_at IS NULL")),
    )

    id: uuid.UUID = id_field()
    school_id: uuid.UUID = school_fk()
    type: str = Field(max_length=100)
    #: ``{"type", "timestamp", "data"}``: the body receivers get.
    payload: dict[str, Any] = json_field()
    created_at: datetime = time_field()
    #: When the deliveries for this event were scheduled (null: not yet).
    dispatched_at: datetime | None = optional_time_field()
