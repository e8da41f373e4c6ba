"""Request and response bodies for sync jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app import year_groups
from app.schemas import Body

JobKind = Literal["registration_groups", "pupils"]
JobMode = Literal["preview", "apply"]
JobStatus = Literal["queued", "running", "awaiting_review", "held", "applying", "succeeded", "failed", "cancelled"]

#: Statuses a job never leaves.
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
#: Statuses in which a worker owns the job.
ACTIVE_STATUSES = frozenset({"queued", "running", "applying"})
COUNT_KEYS = ("new", "matched", "may_match", "synced", "updated", "resynced", "desynced", "not_matched")


class SyncJobCreate(Body):
    """``{"kind": "registration_groups"}`` or ``{"kind": "pupils", "mode": ..., "year_groups"?: [...]}``."""

    kind: JobKind
    mode: JobMode = Field(default="preview", description="pupils only: preview (review first) or apply.")
    year_groups: list[str] | None = Field(
        default=None, max_length=20, description="pupils only: sync just these year groups."
    )

    @field_validator("year_groups")
    @classmethod
    def _year_groups(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        parsed = []
        for item in value:
            yg = year_groups.parse(item)
            if yg is None:
                raise ValueError(f"{item!r} is not a year group")
            parsed.append(yg)
        return sorted(set(parsed), key=lambda y: year_groups.rank(y) or 0)


class Progress(BaseModel):
    phase: str = "queued"
    done: int = 0
    total: int | None = None


class SyncJobOut(BaseModel):
    """A sync job."""

    id: uuid.UUID
    kind: JobKind
    mode: JobMode | None
    status: JobStatus
    year_groups: list[str] | None = None
    progress: Progress
    counts: dict[str, int]
    guard: dict[str, Any] | None
    error: dict[str, Any] | None
    warnings: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
