"""Pupil endpoints: wiring only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.auth import Coordinator, Reader
from app.errors import COMMON_PROBLEMS
from app.pagination import Cursor, Limit, Page
from app.pupils import service
from app.pupils.schemas import Access, PupilCreate, PupilFilter, PupilOut, PupilPatch, PupilSort, SyncStatus

router = APIRouter(prefix="/v1/pupils", tags=["pupils"], responses=COMMON_PROBLEMS)


def pupil_filter(
    access: Access = "all",
    sync_status: SyncStatus | None = None,
    year_group: Annotated[str | None, Query(max_length=40, description="e.g. 'Year 7', '7', 'R'.")] = None,
    class_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of a name or a UPN.")] = None,
) -> PupilFilter:
    """The filter query parameters shared by pupil lists."""
    try:
        return PupilFilter(access=access, sync_status=sync_status, year_group=year_group, class_id=class_id, q=q)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from exc


PupilFilterQuery = Annotated[PupilFilter, Depends(pupil_filter)]


@router.get("", response_model=Page[PupilOut])
async def list_pupils(
    tenant: Reader,
    f: PupilFilterQuery,
    sort: PupilSort = "surname",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[PupilOut]:
    """List the school's pupils (pupils pending deletion are hidden), with filters, a sort and cursor pages."""
    return await service.list_page(tenant, f, sort, limit, cursor)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PupilOut)
async def create_pupil(tenant: Coordinator, body: PupilCreate) -> PupilOut:
    """Add a pupil by hand. It is ``manual`` until a sync links it to an MIS record."""
    return await service.create(tenant, body)


@router.get("/{pupil_id}", response_model=PupilOut)
async def get_pupil(tenant: Reader, pupil_id: uuid.UUID) -> PupilOut:
    """One pupil (also while pending deletion)."""
    return await service.show(tenant, await service.get(tenant, pupil_id))


@router.patch("/{pupil_id}", response_model=PupilOut)
async def update_pupil(tenant: Coordinator, pupil_id: uuid.UUID, body: PupilPatch) -> PupilOut:
    """Change a pupil's fields. A synced pupil's MIS fields are overwritten by the next sync."""
    return await service.patch(tenant, pupil_id, body)
