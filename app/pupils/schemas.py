"""Request and response bodies for pupils."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from app.models.base import utcnow
from app.schemas import Body, YearGroup

SyncStatus = Literal["synced", "desynced", "manual"]
Access = Literal["with", "without", "all"]
PupilSort = Literal["surname", "-surname", "sync_status", "-sync_status", "year_group", "-year_group"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
_UPN_SHAPE = re.compile(r"^[A-Z0-9]{13}$")


def _upn(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    upn = value.strip().upper()
    if not _UPN_SHAPE.match(upn):
        raise ValueError("a UPN is 13 letters and digits")
    return upn


def _past_date(value: date | None) -> date | None:
    if value is not None and value > utcnow().date():
        raise ValueError("date of birth is in the future")
    return value


Upn = Annotated[str | None, AfterValidator(_upn)]
BirthDate = Annotated[date | None, AfterValidator(_past_date)]


class PupilFilter(Body):
    """Which pupils: used by lists, bulk access changes and "add all of the above" to a class.

    Pupils pending deletion are never included.
    """

    access: Access = Field(default="all", description="with, without or all (default) access.")
    sync_status: SyncStatus | None = None
    year_group: YearGroup = Field(default=None, description="e.g. 'Year 7', '7', 'Reception', 'R'.")
    class_id: uuid.UUID | None = None
    q: str | None = Field(
        default=None, max_length=200, description="Part of a name (accents and case ignored) or a UPN."
    )


class PupilCreate(Body):
    """A pupil added by hand (``sync_status`` manual)."""

    forename: Name
    surname: Name
    legal_forename: Name | None = None
    legal_surname: Name | None = None
    date_of_birth: BirthDate = None
    upn: Upn = None
    gender: Annotated[str, StringConstraints(max_length=20)] | None = None
    year_group: YearGroup = None
    class_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    has_access: bool = True


class PupilPatch(Body):
    """Fields to change; omitted fields stay as they are (null clears an optional field)."""

    forename: Name | None = None
    surname: Name | None = None
    legal_forename: Name | None = None
    legal_surname: Name | None = None
    date_of_birth: BirthDate = None
    upn: Upn = None
    gender: Annotated[str, StringConstraints(max_length=20)] | None = None
    year_group: YearGroup = None
    has_access: bool | None = None


class PupilOut(BaseModel):
    """A pupil."""

    id: uuid.UUID
    forename: str
    surname: str
    legal_forename: str | None
    legal_surname: str | None
    date_of_birth: date | None
    upn: str | None
    gender: str | None
    year_group: str | None
    class_ids: list[uuid.UUID]
    sync_status: SyncStatus
    has_access: bool
    mis_id: str | None
    pending_deletion_until: datetime | None
    created_at: datetime
    updated_at: datetime


class PupilSelection(Body):
    """Pupils by id, or every pupil a filter selects (exactly one of the two)."""

    pupil_ids: list[uuid.UUID] | None = Field(default=None, max_length=100_000)
    filter: PupilFilter | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PupilSelection:
        if (self.pupil_ids is None) == (self.filter is None):
            raise ValueError("give either pupil_ids or filter")
        return self


class Changed(BaseModel):
    """How many pupils a bulk change changed (pupils already in the wanted state are not counted)."""

    changed: int
