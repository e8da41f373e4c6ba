"""A pupils sync job's plan items, and the coordinator's remembered match decisions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, school_fk, time_field


class SyncPlanItem(SQLModel, table=True):
    """One line of a plan (DOMAIN.md, Tags), written in bulk by the preview. Whether apply applied it follows
    from the job's stored selection and the item's decision (see app.sync.apply.Selection)."""

    __tablename__ = "sync_plan_items"
    __table_args__ = (
        sa.Index("ix_sync_plan_items_job_tag_seq", "job_id", "tag", "seq"),
        sa.UniqueConstraint("job_id", "seq"),
    )

    id: uuid.UUID = id_field(server_default=True)
    school_id: uuid.UUID = school_fk()
    job_id: uuid.UUID = Field(foreign_key="sync_jobs.id", ondelete="CASCADE")
    #: Position in the plan (MIS order, then desynced and not_matched pupils).
    seq: int
    tag: str = Field(max_length=20)
    #: The MIS pupil as read (null for desynced and not_matched items).
    mis: dict[str, Any] | None = json_field(default_factory=lambda: None, nullable=True)
    mis_id: str | None = Field(default=None, max_length=200)
    pupil_id: uuid.UUID | None = None
    candidates: list[dict[str, Any]] = json_field(default_factory=list)
    changes: dict[str, Any] = json_field()
    #: Our class for the MIS pupil's set-up registration group (for new pupils and class moves).
    target_class_id: uuid.UUID | None = None
    decision: str | None = Field(default=None, max_length=10)


class MatchDecision(SQLModel, table=True):
    """A coordinator's confirm or reject of an (MIS pupil, our pupil) pair, applied on every later sync."""

    __tablename__ = "match_decisions"

    school_id: uuid.UUID = Field(foreign_key="schools.id", primary_key=True, ondelete="CASCADE")
    mis_id: str = Field(primary_key=True, max_length=200)
    pupil_id: uuid.UUID = Field(primary_key=True)
    decision: str = Field(max_length=10)
    job_id: uuid.UUID | None = None
    created_at: datetime = time_field()
