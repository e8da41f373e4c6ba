"""Test results, the school's assessment suites (with their retention periods) and anonymisation tokens."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, optional_time_field, school_fk, time_field


class Result(SQLModel, table=True):
    """A pupil's score on a suite. Anonymised rows have no ``pupil_id`` (the learner's ``anon_token``
    replaces it), are invisible to the school and are never changed again (a trigger refuses it)."""

    __tablename__ = "results"
    __table_args__ = (
        # Linked rows have a pupil and no token; anonymised rows a token and no pupil: never both.
        sa.CheckConstraint(
            "(anonymised_at IS NULL AND pupil_id IS NOT NULL AND anon_token IS NULL)"
            " OR (anonymised_at IS NOT NULL AND pupil_id IS NULL AND anon_token IS NOT NULL)",
            name="linked_or_anonymised",
        ),
        # One result per pupil, suite and day (a retried batch cannot count twice); also the FK's index.
        sa.Index(
            "uq_results_pupil_suite_taken",
            "pupil_id",
            "suite",
            "taken_on",
            unique=True,
            postgresql_where=sa.text("pupil_id IS NOT NULL"),
        ),
        sa.Index("ix_results_school_suite_taken", "school_id", "suite", "taken_on"),
    )

    id: uuid.UUID = id_field()
    school_id: uuid.UUID = school_fk()
    #: The learner; null once anonymised. A purge of the pupil deletes its linked results (CASCADE).
    pupil_id: uuid.UUID | None = Field(default=None, foreign_key="pupils.id", ondelete="CASCADE")
    suite: str = Field(max_length=20)
    taken_on: date
    #: The suite's scores (``sas``: the standard age score); a small JSON object.
    score: dict[str, Any] = json_field()
    #: The pupil's year group when the result was recorded (kept after anonymisation).
    year_group: str | None = Field(default=None, max_length=20)
    created_at: datetime = time_field()
    anonymised_at: datetime | None = optional_time_field()
    #: Random per-learner token replacing ``pupil_id`` once anonymised (never derived from the pupil id).
    anon_token: uuid.UUID | None = None


class ResultSuite(SQLModel, table=True):
    """A school's own suite, or its retention period for a common suite.

    The common suites (PTE, PTM, ...) exist for every school without a row; a row for one of them only
    overrides its retention period.
    """

    __tablename__ = "result_suites"

    school_id: uuid.UUID = Field(foreign_key="schools.id", primary_key=True, ondelete="CASCADE")
    code: str = Field(primary_key=True, max_length=20)
    name: str | None = Field(default=None, max_length=200)
    #: Calendar years after the learner's last result; null keeps the default.
    retention_years: int | None = Field(default=None, sa_type=sa.SmallInteger)
    created_at: datetime = time_field()
    updated_at: datetime = time_field()


class ResultAnonToken(SQLModel, table=True):
    """The token a learner's anonymised results share, kept only while some of the learner's results are
    still linked (so the later suites get the same token). The row is deleted as soon as none are: from
    then on nothing links the token to the learner."""

    __tablename__ = "result_anon_tokens"

    pupil_id: uuid.UUID = Field(foreign_key="pupils.id", primary_key=True, ondelete="CASCADE")
    school_id: uuid.UUID = school_fk()
    token: uuid.UUID
    created_at: datetime = time_field()
