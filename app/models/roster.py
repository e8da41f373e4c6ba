"""Pupils, classes and class memberships: the school's roster."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import id_field, optional_time_field, school_fk, time_field


class Pupil(SQLModel, table=True):
    __tablename__ = "pupils"
    __table_args__ = (
        sa.UniqueConstraint("school_id", "mis_id"),
        sa.Index("ix_pupils_school_sort", "school_id", "sort_key", "id"),
    )

    id: uuid.UUID = id_field()
    school_id: uuid.UUID = school_fk()
    forename: str = Field(max_length=200)
    surname: str = Field(max_length=200)
    legal_forename: str | None = Field(default=None, max_length=200)
    legal_surname: str | None = Field(default=None, max_length=200)
    date_of_birth: date | None = None
    upn: str | None = Field(default=None, max_length=13)
    gender: str | None = Field(default=None, max_length=20)
    year_group: str | None = Field(default=None, max_length=20)
    #: Position of ``year_group`` (Nursery 1 = 0); 99 when unknown. Sorts by age, not alphabetically.
    year_rank: int = Field(default=99, sa_type=sa.SmallInteger)
    sync_status: str = Field(default="manual", max_length=10)
    has_access: bool = True
    mis_id: str | None = Field(default=None, max_length=200)
    pending_deletion_until: datetime | None = optional_time_field()
    #: Folded "surname forename" for stable, accent-insensitive sorting.
    sort_key: str = Field(default="", max_length=500)
    #: Folded names and UPN for ``q`` searches.
    search_text: str = Field(default="", max_length=1200)
    created_at: datetime = time_field()
    updated_at: datetime = time_field()


class Class(SQLModel, table=True):
    __tablename__ = "classes"
    __table_args__ = (sa.UniqueConstraint("school_id", "name_key"),)

    id: uuid.UUID = id_field()
    school_id: uuid.UUID = school_fk()
    name: str = Field(max_length=200)
    #: Case- and space-folded name: two classes of a school never share it.
    name_key: str = Field(max_length=200)
    mis_group_id: str | None = Field(default=None, max_length=200)
    set_up: bool = False
    created_at: datetime = time_field()
    updated_at: datetime = time_field()


class ClassMembership(SQLModel, table=True):
    __tablename__ = "class_memberships"
    __table_args__ = (sa.Index("ix_class_memberships_pupil_id", "pupil_id"),)

    class_id: uuid.UUID = Field(foreign_key="classes.id", primary_key=True, ondelete="CASCADE")
    pupil_id: uuid.UUID = Field(foreign_key="pupils.id", primary_key=True, ondelete="CASCADE")
    school_id: uuid.UUID = school_fk()
    #: True when a sync put the pupil here (a sync moves only these); False for hand-made ones.
    mis_managed: bool = False
    created_at: datetime = time_field()
