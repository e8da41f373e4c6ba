"""Shared pieces of the table models: naming convention, column helpers, time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# Constraint names are stable across autogenerate runs and databases (Alembic's recommended convention).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def id_field(*, server_default: bool = False) -> Any:
    """A UUID primary key. ``server_default`` lets bulk COPYs leave the id to PostgreSQL."""
    if server_default:
        return Field(
            default_factory=uuid.uuid4,
            primary_key=True,
            sa_column_kwargs={"server_default": sa.text("gen_random_uuid()")},
        )
    return Field(default_factory=uuid.uuid4, primary_key=True)


def time_field(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), **kw)


def optional_time_field(**kw: Any) -> Any:
    return Field(default=None, sa_type=sa.DateTime(timezone=True), **kw)


def json_field(default_factory: Any = dict, nullable: bool = False) -> Any:
    return Field(default_factory=default_factory, sa_column=sa.Column(JSONB, nullable=nullable))


def school_fk() -> Any:
    """The tenant column every school-owned row carries."""
    return Field(foreign_key="schools.id", index=True, ondelete="CASCADE")
