"""School and API key decisions (operator side) and the school's own view."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import audit
from app.errors import NotFound, ProblemError, Unprocessable
from app.models import ApiKey, School, SyncJob
from app.models.base import utcnow
from app.schools.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    LastSync,
    MisConnectionIn,
    MisConnectionOut,
    SchoolCreate,
    SchoolOut,
    SchoolPatch,
    SchoolSettings,
)
from app.security import LOOKUP_PREFIX_LENGTH, Cipher, hash_api_key, new_api_key

OPERATOR = "operator"


def _set_mis(school: School, mis: MisConnectionIn, cipher: Cipher) -> None:
    """Store the connection. Without ``credentials`` the stored ones are kept, for the same provider only."""
    if mis.credentials is None and (school.mis_credentials is None or school.mis_provider != mis.provider):
        raise Unprocessable(
            "The MIS connection needs credentials",
            errors=[ProblemError(loc=["body", "mis", "credentials"], msg="Field required")],
        )
    school.mis_provider = mis.provider
    school.mis_base_url = str(mis.base_url).rstrip("/")
    school.mis_school_ref = mis.school_ref
    if mis.credentials is not None:
        school.mis_credentials = cipher.encrypt_json(mis.credentials.model_dump(mode="json", exclude_none=True))
    school.mis_options = mis.options.model_dump(mode="json", exclude_none=True)


def mis_credentials(school: School, cipher: Cipher) -> dict[str, Any]:
    """The school's decrypted MIS credentials (for connectors only; never returned or logged)."""
    return dict(cipher.decrypt_json(school.mis_credentials)) if school.mis_credentials else {}


async def to_out(session: AsyncSession, school: School) -> SchoolOut:
    last = (
        await session.execute(
            select(SyncJob)
            .where(col(SyncJob.school_id) == school.id, col(SyncJob.finished_at).is_not(None))
            .order_by(col(SyncJob.finished_at).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    mis = None
    if school.mis_provider:
        mis = MisConnectionOut(
            provider=school.mis_provider,
            base_url=school.mis_base_url or "",
            school_ref=school.mis_school_ref or "",
            has_credentials=bool(school.mis_credentials),
            options=school.mis_options,
        )
    return SchoolOut(
        id=school.id,
        name=school.name,
        urn=school.urn,
        mis=mis,
        settings=SchoolSettings.model_validate(school.settings),
        last_sync=LastSync(job_id=last.id, kind=last.kind, status=last.status, finished_at=last.finished_at)
        if last
        else None,
        created_at=school.created_at,
        updated_at=school.updated_at,
    )


async def get(session: AsyncSession, school_id: uuid.UUID) -> School:
    school = await session.get(School, school_id)
    if school is None:
        raise NotFound(f"No school with id {school_id}")
    return school


async def create(session: AsyncSession, body: SchoolCreate, cipher: Cipher) -> School:
    school = School(name=body.name, urn=body.urn, settings=(body.settings or SchoolSettings()).model_dump())
    if body.mis:
        _set_mis(school, body.mis, cipher)
    session.add(school)
    await session.flush()
    await audit.record(
        session,
        school_id=school.id,
        actor=OPERATOR,
        action="school.created",
        entity_type="school",
        entity_id=school.id,
        data={"mis_provider": school.mis_provider},
    )
    return school


async def patch(session: AsyncSession, school_id: uuid.UUID, body: SchoolPatch, cipher: Cipher) -> School:
    school = await get(session, school_id)
    fields = body.model_fields_set
    if "name" in fields and body.name:
        school.name = body.name
    if "urn" in fields:
        school.urn = body.urn
    if "mis" in fields:
        if body.mis is None:
            school.mis_provider = school.mis_base_url = school.mis_school_ref = school.mis_credentials = None
            school.mis_options = {}
        else:
            _set_mis(school, body.mis, cipher)
    if "settings" in fields and body.settings is not None:
        school.settings = body.settings.model_dump()
    school.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        school_id=school.id,
        actor=OPERATOR,
        action="school.updated",
        entity_type="school",
        entity_id=school.id,
        data={"fields": sorted(fields)},
    )
    return school


async def create_api_key(session: AsyncSession, school_id: uuid.UUID, body: ApiKeyCreate) -> ApiKeyCreated:
    await get(session, school_id)
    key = new_api_key()
    row = ApiKey(
        school_id=school_id,
        role=body.role,
        label=body.label,
        prefix=key[:LOOKUP_PREFIX_LENGTH],
        key_hash=hash_api_key(key),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        school_id=school_id,
        actor=OPERATOR,
        action="api_key.created",
        entity_type="api_key",
        entity_id=row.id,
        data={"role": body.role},
    )
    return ApiKeyCreated(id=row.id, role=row.role, label=row.label, key=key, created_at=row.created_at)
