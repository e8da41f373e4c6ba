"""Class endpoints: wiring only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.auth import Coordinator, Reader
from app.classes import service
from app.classes.schemas import Added, ClassCreate, ClassOut, ClassPatch
from app.errors import COMMON_PROBLEMS, problems
from app.pagination import Cursor, Limit, Page, page_of
from app.pupils import service as pupils_service
from app.pupils.endpoints import pupil_filter
from app.pupils.schemas import Access, PupilFilter, PupilOut, PupilSelection, PupilSort, SyncStatus

router = APIRouter(prefix="/v1/classes", tags=["classes"], responses=COMMON_PROBLEMS)


class ClassList(Page[ClassOut]):
    """Every class of the school, by name (one page: schools have at most a few hundred classes)."""


@router.get("", response_model=ClassList)
async def list_classes(tenant: Reader, limit: Limit = 100, cursor: Cursor = None) -> ClassList:
    """The school's classes with their pupil counts, by name."""
    page = page_of(await service.list_classes(tenant), "classes", limit, cursor)
    return ClassList(items=page.items, next_cursor=page.next_cursor, total=page.total)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ClassOut, responses=problems(409))
async def create_class(tenant: Coordinator, body: ClassCreate) -> ClassOut:
    """Create a class. 409 when the school already has a class of that name (case and spaces ignored)."""
    return await service.create(tenant, body)


@router.get("/{class_id}", response_model=ClassOut)
async def get_class(tenant: Reader, class_id: uuid.UUID) -> ClassOut:
    """One class."""
    return await service.show(tenant, await service.get(tenant, class_id))


@router.patch("/{class_id}", response_model=ClassOut, responses=problems(409))
async def update_class(tenant: Coordinator, class_id: uuid.UUID, body: ClassPatch) -> ClassOut:
    """Rename a class."""
    return await service.patch(tenant, class_id, body)


@router.delete("/{class_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(409))
async def delete_class(tenant: Coordinator, class_id: uuid.UUID) -> None:
    """Delete an empty class. 409, with ``pupil_count``, while it has members."""
    await service.delete(tenant, class_id)


def class_pupil_filter(
    class_id: uuid.UUID,
    access: Access = "with",
    sync_status: SyncStatus | None = None,
    year_group: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> PupilFilter:
    """Pupil filters for a class list: pupils with access by default."""
    return pupil_filter(access, sync_status, year_group, class_id, q)


@router.get("/{class_id}/pupils", response_model=Page[PupilOut])
async def list_class_pupils(
    tenant: Reader,
    class_id: uuid.UUID,
    f: Annotated[PupilFilter, Depends(class_pupil_filter)],
    sort: PupilSort = "surname",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """The class's pupils; by default only those with access (``access=all`` or ``without`` to see others)."""
    await service.get(tenant, class_id)
    return Response(await pupils_service.list_page(tenant, f, sort, limit, cursor), media_type="application/json")


@router.post("/{class_id}/pupils", response_model=Added)
async def add_class_pupils(tenant: Coordinator, class_id: uuid.UUID, body: PupilSelection) -> Added:
    """Add pupils by id, or every pupil a filter selects ("add all of the above"), as hand-made memberships.

    Adding to one class never removes a pupil from another."""
    return await service.add_pupils(tenant, class_id, body)


@router.delete("/{class_id}/pupils/{pupil_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_class_pupil(tenant: Coordinator, class_id: uuid.UUID, pupil_id: uuid.UUID) -> None:
    """Remove one pupil from the class (the pupil and their data stay)."""
    await service.remove_pupil(tenant, class_id, pupil_id)
