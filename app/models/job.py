"""Sync jobs and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, optional_time_field, school_fk, time_field


class SyncJob(SQLModel, table=True):
    """A job's row is the source of truth; the queue only carries its id."""

    __tablename__ = "sync_jobs"
    __table_args__ = (
        sa.Index("ix_sync_jobs_school_created", "school_id", "created_at"),
        sa.Index("ix_sync_jobs_status", "status"),
    )

    id: uuid.UUID = id_field()
    school_id: uuid.UUID = school_fk()
    kind: str = Field(max_length=40)
    mode: str | None = Field(default=None, max_length=20)
    status: str = Field(default="queued", max_length=20)
    #: The request's options (e.g. ``year_groups``).
    params: dict[str, Any] = json_field()
    progress: dict[str, Any] = json_field()
    counts: dict[str, Any] = json_field()
    guard: dict[str, Any] | None = json_field(default_factory=lambda: None, nullable=True)
    error: dict[str, Any] | None = json_field(default_factory=lambda: None, nullable=True)
    warnings: list[str] = json_field(default_factory=list)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)
    api_key_id: uuid.UUID | None = None
    attempts: int = 0
    created_at: datetime = time_field()
    started_at: datetime | None = optional_time_field()
    finished_at: datetime | None = optional_time_field()
    heartbeat_at: datetime | None = optional_time_field()


class AuditEvent(SQLModel, table=True):
    """What changed, when and by whom. Never holds personal data beyond ids, except before/after values
    of the changed fields, which the school may read back."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_school_created", "school_id", "created_at"),)

    id: uuid.UUID = id_field(server_default=True)
    school_id: uuid.UUID | None = Field(default=None, foreign_key="schools.id", ondelete="CASCADE")
    actor: str = Field(max_length=100)
    action: str = Field(max_length=100)
    entity_type: str = Field(max_length=40)
    entity_id: str | None = Field(default=None, max_length=200, index=True)
    job_id: uuid.UUID | None = Field(default=None, index=True)
    data: dict[str, Any] = json_field()
    created_at: datetime = time_field()
