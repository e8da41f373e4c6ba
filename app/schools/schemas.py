"""Request and response bodies for schools and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, StringConstraints, field_validator, model_validator

from app import year_groups
from app.schedule.schemas import (
    SUMMER_PAUSE_DESCRIPTION,
    SYNC_TIME_DESCRIPTION,
    SummerPause,
    check_sync_time,
    check_timezone,
    default_pause,
)
from app.schemas import Body

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class WondeCredentials(Body):
    token: Secret


class OneRosterCredentials(Body):
    client_id: Secret
    client_secret: Secret
    token_url: AnyHttpUrl
    scope: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="OAuth 2 scopes to ask for, space-separated (the server's default if absent)."
    )


class MisOptions(Body):
    """Non-secret connector options."""

    grade_map: dict[Annotated[str, StringConstraints(max_length=20)], str] | None = Field(
        default=None,
        description="OneRoster grade code -> year group, overriding the default mapping "
        '(e.g. {"KG": "Reception", "01": "Year 1"}).',
        max_length=40,
    )

    @field_validator("grade_map")
    @classmethod
    def _year_groups(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        out = {}
        for code, name in value.items():
            parsed = year_groups.parse(name)
            if parsed is None:
                raise ValueError(f"{name!r} is not a year group")
            out[code] = parsed
        return out


class MisConnectionIn(Body):
    """How to reach the school's MIS. ``base_url`` is the API root including its version path."""

    provider: Literal["wonde", "oneroster"]
    base_url: AnyHttpUrl
    school_ref: Text
    credentials: WondeCredentials | OneRosterCredentials | None = Field(
        default=None,
        description="Required when creating; on PATCH, leave it out to keep the stored credentials "
        "(same provider only).",
    )
    options: MisOptions = Field(default_factory=MisOptions)

    @model_validator(mode="after")
    def _credentials_fit_provider(self) -> MisConnectionIn:
        wanted = WondeCredentials if self.provider == "wonde" else OneRosterCredentials
        if self.credentials is not None and not isinstance(self.credentials, wanted):
            raise ValueError(f"{self.provider} credentials need the fields {', '.join(wanted.model_fields)}")
        return self


class SchoolSettings(Body):
    """Per-school settings."""

    pending_deletion_days: int = Field(
        default=180, ge=0, le=3650, description="How long a deleted pupil stays restorable."
    )
    timezone: str = Field(default="Europe/London", max_length=64, description="IANA time zone of the school.")
    sync_time: str | None = Field(default=None, examples=["02:00"], description=SYNC_TIME_DESCRIPTION)
    summer_pause: SummerPause | None = Field(default_factory=default_pause, description=SUMMER_PAUSE_DESCRIPTION)

    _sync_time = field_validator("sync_time")(check_sync_time)
    _timezone = field_validator("timezone")(check_timezone)


class SchoolCreate(Body):
    name: Text
    urn: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6,8}$")] | None = None
    mis: MisConnectionIn | None = None
    settings: SchoolSettings | None = None


class SchoolPatch(Body):
    name: Text | None = None
    urn: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6,8}$")] | None = None
    mis: MisConnectionIn | None = None
    settings: SchoolSettings | None = None


class MisConnectionOut(BaseModel):
    """The MIS connection as the API shows it: never the credentials themselves."""

    provider: str
    base_url: str
    school_ref: str
    has_credentials: bool
    options: dict[str, Any]


class LastSync(BaseModel):
    job_id: uuid.UUID
    kind: str
    status: str
    finished_at: datetime | None


class SchoolOut(BaseModel):
    id: uuid.UUID
    name: str
    urn: str | None
    mis: MisConnectionOut | None
    settings: SchoolSettings
    last_sync: LastSync | None = None
    created_at: datetime
    updated_at: datetime


class ApiKeyCreate(Body):
    role: Literal["coordinator", "viewer"]
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class ApiKeyCreated(BaseModel):
    """A new key. ``key`` is shown only here: misync keeps a hash."""

    id: uuid.UUID
    role: str
    label: str | None
    key: str
    created_at: datetime
