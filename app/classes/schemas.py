"""Request and response bodies for classes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from app.schemas import Body

ClassName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ClassCreate(Body):
    name: ClassName


class ClassPatch(Body):
    name: ClassName | None = None


class ClassOut(BaseModel):
    """A class. ``pupil_count`` counts every member (with or without access), not pupils pending deletion."""

    id: uuid.UUID
    name: str
    pupil_count: int
    mis_group_id: str | None
    set_up: bool
    created_at: datetime
    updated_at: datetime


class Added(BaseModel):
    added: int
