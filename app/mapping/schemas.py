"""Request and response bodies for registration groups and class mappings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.pagination import Page
from app.schemas import Body

MisGroupId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
SuggestedBy = Literal["name", "lineage"]


class RegistrationGroupOut(BaseModel):
    """An MIS registration group as the last ``registration_groups`` job saw it, with its mapping."""

    mis_group_id: str = Field(description="The group's id in the MIS.")
    name: str
    year_group: str | None = Field(description='Canonical year group ("Year 7"), when the MIS gives one.')
    pupil_count: int = Field(description="Pupils in the group at the last fetch.")
    stale: bool = Field(description="True when the group vanished from the MIS at the last fetch (e.g. a rollover).")
    class_id: uuid.UUID | None = Field(description="The class mapped to this group, if any.")
    class_name: str | None
    set_up: bool = Field(description="Whether the mapped class is ticked for the pupil sync.")
    suggested_class_id: uuid.UUID | None = Field(
        description="For a live group without a class: the class misync suggests (see ``suggested_by``)."
    )
    suggested_by: SuggestedBy | None = Field(
        description="``name``: a class of the same normalised name; ``lineage``: the class that held most "
        "of the group's pupils at the last fetch."
    )
    last_seen_at: datetime = Field(description="When a fetch last saw the group in the MIS.")


class RegistrationGroupList(Page[RegistrationGroupOut]):
    """Every registration group of the last fetch (one page): live groups first, by year group then name."""


class MappingIn(Body):
    """One group's mapping. ``class_id`` maps it to that class; ``class_id: null`` with ``set_up: true``
    maps it to a class named after the group (created when missing); ``class_id: null`` with
    ``set_up: false`` unmaps it."""

    mis_group_id: MisGroupId
    class_id: uuid.UUID | None = None
    set_up: bool


class MappingsUpdate(Body):
    """The mappings to change; groups not listed keep theirs."""

    mappings: list[MappingIn] = Field(max_length=2000)


class MappingOut(BaseModel):
    """A class mapped to an MIS registration group."""

    mis_group_id: str
    class_id: uuid.UUID
    set_up: bool
    class_name: str
    group_name: str | None = Field(description="The group's name at the last fetch (null if never fetched).")
    year_group: str | None
    stale: bool = Field(description="True when the group is no longer live in the MIS (vanished at the last fetch).")


class Mappings(BaseModel):
    """Every mapped class of the school: live groups first, by year group then name."""

    mappings: list[MappingOut]
