"""Schools (tenants) and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, optional_time_field, school_fk, time_field


class School(SQLModel, table=True):
    __tablename__ = "schools"

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200)
    urn: str | None = Field(default=None, max_length=20)
    mis_provider: str | None = Field(default=None, max_length=20)
    mis_base_url: str | None = Field(default=None, max_length=2000)
    mis_school_ref: str | None = Field(default=None, max_length=200)
    #: Fernet token of the JSON credentials; never returned by the API.
    mis_credentials: str | None = Field(default=None)
    #: Non-secret connector options (e.g. OneRoster ``grade_map``).
    mis_options: dict[str, Any] = json_field()
    #: Per-school settings (``deletion_days``, ``timezone``...).
    settings: dict[str, Any] = json_field()
    created_at: datetime = time_field()
    updated_at: datetime = time_field()
    last_sync_at: datetime | None = optional_time_field()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = id_field()
    school_id: uuid.UUID = school_fk()
    role: str = Field(max_length=20)
    label: str | None = Field(default=None, max_length=200)
    #: First characters of the key, to find candidates; the rest is compared by hash in constant time.
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64)
    created_at: datetime = time_field()
    revoked_at: datetime | None = optional_time_field()
