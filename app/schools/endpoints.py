"""School endpoints: the operator's (``/v1/admin``) and the school's own (``/v1/school``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, status

from app.auth import Reader, require_operator
from app.db import SessionDep
from app.errors import COMMON_PROBLEMS
from app.schools import service
from app.schools.schemas import ApiKeyCreate, ApiKeyCreated, SchoolCreate, SchoolOut, SchoolPatch
from app.security import Cipher

admin_router = APIRouter(
    prefix="/v1/admin", tags=["admin"], responses=COMMON_PROBLEMS, dependencies=[Depends(require_operator)]
)
router = APIRouter(prefix="/v1/school", tags=["school"], responses=COMMON_PROBLEMS)


def _cipher(request: Request) -> Cipher:
    cipher: Cipher = request.app.state.cipher
    return cipher


@admin_router.post("/schools", status_code=status.HTTP_201_CREATED, response_model=SchoolOut)
async def admin_create_school(request: Request, session: SessionDep, body: SchoolCreate) -> SchoolOut:
    """Create a school (a tenant), optionally with its MIS connection. Credentials are encrypted at rest
    and never returned."""
    return await service.to_out(session, await service.create(session, body, _cipher(request)))


@admin_router.patch("/schools/{school_id}", response_model=SchoolOut)
async def admin_update_school(
    request: Request, session: SessionDep, school_id: uuid.UUID, body: SchoolPatch
) -> SchoolOut:
    """Change a school's name, URN, settings or MIS connection (``"mis": null`` removes it)."""
    return await service.to_out(session, await service.patch(session, school_id, body, _cipher(request)))


@admin_router.post("/schools/{school_id}/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def admin_create_api_key(session: SessionDep, school_id: uuid.UUID, body: ApiKeyCreate) -> ApiKeyCreated:
    """Issue an API key for the school. The key is in this answer only; misync stores its hash."""
    return await service.create_api_key(session, school_id, body)


@router.get("", response_model=SchoolOut)
async def get_school(tenant: Reader) -> SchoolOut:
    """The key's school, its MIS connection (no secrets) and its last finished sync."""
    return await service.to_out(tenant.session, await service.get(tenant.session, tenant.school_id))
