"""Request and response bodies for the leavers tidy-up."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from app.classes.schemas import ClassName
from app.schemas import Body

DEFAULT_CLASS_NAME = "Leavers/Desynced"


class TidyRequest(Body):
    """What to tidy. Every field is optional: an empty body (or none) is a dry run with the defaults."""

    dry_run: bool = Field(
        default=True, description="Report what the tidy-up would do and change nothing (the default: look first)."
    )
    class_name: ClassName = Field(
        default=DEFAULT_CLASS_NAME,
        description="The class that holds the pupils without access; reused when the school has a class of that "
        "name (case and spaces ignored), created otherwise.",
    )
    delete_empty_classes: bool = Field(
        default=True,
        description="Delete the classes without members afterwards (never one mapped and set up for sync, "
        "never the leavers class).",
    )


class ClassRef(BaseModel):
    """A class by id and name."""

    id: uuid.UUID
    name: str


class LeaversClass(BaseModel):
    """The class holding the pupils without access, after the tidy-up."""

    id: uuid.UUID | None = Field(description="Null in a dry run that would create the class.")
    name: str
    created: bool = Field(description="The tidy-up created the class (or, in a dry run, would create it).")
    pupil_count: int = Field(description="Its members afterwards: exactly the pupils without access.")


class TidyResult(BaseModel):
    """What the tidy-up did, or in a dry run would do: the same numbers and classes either way."""

    dry_run: bool
    revoked: int = Field(description="Desynced pupils whose access was revoked.")
    granted: int = Field(description="Synced pupils given access back.")
    moved: int = Field(description="Pupils without access put into the leavers class or taken out of other classes.")
    memberships_ended: int = Field(
        description="Class memberships ended: pupils without access leaving their other classes, and pupils "
        "with access leaving the leavers class."
    )
    returned: int = Field(description="Pupils with access taken out of the leavers class.")
    leavers_class: LeaversClass
    deleted_classes: list[ClassRef] = Field(description="Classes deleted because they had no members, by name.")
