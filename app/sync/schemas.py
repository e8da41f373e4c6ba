"""Request and response bodies for sync jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app import year_groups
from app.schemas import Body, YearGroup

JobKind = Literal["registration_groups", "pupils"]
JobMode = Literal["preview", "apply"]
JobStatus = Literal["queued", "running", "awaiting_review", "held", "applying", "succeeded", "failed", "cancelled"]

#: Statuses a job never leaves.
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
#: Statuses in which a worker owns the job.
ACTIVE_STATUSES = frozenset({"queued", "running", "applying"})


class SyncJobCreate(Body):
    """``{"kind": "registration_groups"}`` or ``{"kind": "pupils", "mode": ..., "year_groups"?: [...]}``."""

    kind: JobKind
    mode: JobMode = Field(default="preview", description="pupils only: preview (review first) or apply.")
    year_groups: list[YearGroup] | None = Field(
        default=None, max_length=20, description="pupils only: sync just these year groups ('Year 7', '7', 'R')."
    )

    @field_validator("year_groups")
    @classmethod
    def _in_age_order(cls, value: list[str | None] | None) -> list[str] | None:
        if value is None:
            return None
        return sorted({v for v in value if v is not None}, key=lambda y: year_groups.rank(y) or 0)


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
    applied: dict[str, int] | None = Field(
        default=None, description="What apply did: created, linked, updated, resynced, desynced and skipped pupils."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CandidateOut(BaseModel):
    pupil_id: uuid.UUID
    score: float
    reasons: list[str]


PlanTag = Literal["new", "matched", "may_match", "synced", "resynced", "desynced", "not_matched"]


class PlanItemOut(BaseModel):
    """One line of a plan. ``changes`` is ``{field: [old, new]}``; ``mis`` is the MIS pupil as read."""

    id: uuid.UUID
    tag: PlanTag
    mis: dict[str, Any] | None
    pupil_id: uuid.UUID | None
    candidates: list[CandidateOut]
    changes: dict[str, list[Any]]
    target_class_id: uuid.UUID | None
    decision: Literal["confirm", "reject"] | None
    applied: bool


class ApplyRequest(Body):
    """What to apply. ``select: all`` takes every item except ``exclude``; ``none`` only ``include``.

    ``decisions`` settles ``may_match`` items (confirm links the proposed pupil, reject creates a new
    pupil and remembers never to pair them again); a ``matched`` item may be rejected too. Undecided
    ``may_match`` items are skipped. A ``held`` plan needs ``override_guard: true``."""

    select: Literal["all", "none"] = "all"
    include: list[uuid.UUID] = Field(default_factory=list, max_length=200_000)
    exclude: list[uuid.UUID] = Field(default_factory=list, max_length=200_000)
    decisions: dict[uuid.UUID, Literal["confirm", "reject"]] = Field(default_factory=dict, max_length=200_000)
    links: dict[uuid.UUID, uuid.UUID] = Field(
        default_factory=dict,
        max_length=200_000,
        description="For a ``may_match`` (or ``matched``) item, the candidate to link (one of its "
        "``candidates``; implies confirm). Without it, a confirm links the best candidate.",
    )
    override_guard: bool = False
