"""What the last fetch saw of the school's MIS registration groups."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import id_field, school_fk, time_field


class MisRegistrationGroup(SQLModel, table=True):
    """A registration group as last fetched. Groups that vanish from the MIS are marked ``stale``, never
    deleted, so last year's mapping stays readable after a rollover."""

    __tablename__ = "mis_registration_groups"
    __table_args__ = (sa.UniqueConstraint("school_id", "mis_group_id"),)

    id: uuid.UUID = id_field()
    school_id: uuid.UUID = school_fk()
    mis_group_id: str = Field(max_length=200)
    name: str = Field(max_length=200)
    year_group: str | None = Field(default=None, max_length=20)
    pupil_count: int = 0
    stale: bool = False
    #: The class that held most of this group's pupils (by their MIS-managed membership) at the fetch.
    lineage_class_id: uuid.UUID | None = None
    first_seen_at: datetime = time_field()
    last_seen_at: datetime = time_field()
