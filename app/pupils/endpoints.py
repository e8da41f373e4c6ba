"""Pupil endpoints: wiring only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.auth import Coordinator, Reader
from app.errors import COMMON_PROBLEMS
from app.pagination import Cursor, Limit, Page
from app.pupils import deletion, service
from app.pupils.schemas import (
    Access,
    Changed,
    PupilCreate,
    PupilFilter,
    PupilOut,
    PupilPatch,
    PupilSelection,
    PupilSort,
    SyncStatus,
)

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
) -> Response:
    """List the school's pupils, with filters, a sort and cursor pages.

    - ``access``: ``all`` (default), ``with`` or ``without`` access.
    - ``q``: every word must appear in a name (legal or preferred; case, accents, apostrophes and hyphens
      ignored) or the UPN.
    - ``sort``: ``surname``, ``sync_status`` (the "Synced?" column: desynced, manual, synced) or
      ``year_group`` (by age), each also descending with a leading ``-``.
    - Pages are keyset pages: no pupil is skipped or repeated while others are added. ``total`` (on the
      first page, without a cursor) counts every pupil the filters select.

    Pupils pending deletion are never listed (read one by id).
    """
    return Response(await service.list_page(tenant, f, sort, limit, cursor), media_type="application/json")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PupilOut)
async def create_pupil(tenant: Coordinator, body: PupilCreate) -> PupilOut:
    """Add a pupil by hand. It is ``manual`` until a sync links it to an MIS record."""
    return await service.create(tenant, body)


# The bulk routes come before ``/{pupil_id}`` so that no path parameter ever captures them.
@router.post("/grant-access", response_model=Changed)
async def grant_access(tenant: Coordinator, body: PupilSelection) -> Changed:
    """Give access to pupils, by ``pupil_ids`` or by every pupil a ``filter`` selects (no paging limit).

    One set-based change in one transaction: all of it or, on any error, none. ``changed`` counts the
    pupils that lacked access; each of them gets a ``pupil.access_granted`` audit event. Unknown
    ``pupil_ids`` (or another school's): 404 and nothing changes. Pupils pending deletion are left as
    they are.
    """
    return await service.change_access(tenant, body, True)


@router.post("/revoke-access", response_model=Changed)
async def revoke_access(tenant: Coordinator, body: PupilSelection) -> Changed:
    """Take access away, by ``pupil_ids`` or ``filter`` (e.g. ``{"sync_status": "desynced", "access": "with"}``).

    A pupil without access is hidden from class lists (by default), marksheets and reports; their class
    memberships and test results stay. Same rules as ``grant-access``: one transaction, ``changed``
    counts the pupils that had access, one ``pupil.access_revoked`` audit event each.
    """
    return await service.change_access(tenant, body, False)


@router.get("/{pupil_id}", response_model=PupilOut)
async def get_pupil(tenant: Reader, pupil_id: uuid.UUID) -> PupilOut:
    """One pupil (also while pending deletion)."""
    return await service.show(tenant, await service.get(tenant, pupil_id))


@router.patch("/{pupil_id}", response_model=PupilOut)
async def update_pupil(tenant: Coordinator, pupil_id: uuid.UUID, body: PupilPatch) -> PupilOut:
    """Change a pupil's fields. A synced pupil's MIS fields are overwritten by the next sync."""
    return await service.patch(tenant, pupil_id, body)


@router.delete(
    "/{pupil_id}",
    response_model=PupilOut,
    responses={status.HTTP_204_NO_CONTENT: {"description": "Purged (``immediate=true``)."}},
)
async def delete_pupil(
    tenant: Coordinator,
    pupil_id: uuid.UUID,
    immediate: Annotated[
        bool, Query(description="Purge now instead of moving the pupil to pending deletion. Cannot be undone.")
    ] = False,
) -> PupilOut | Response:
    """Delete a pupil: by default, move it to pending deletion and answer 200 with the pupil.

    A pending pupil has ``pending_deletion_until`` set (now plus the school's ``pending_deletion_days``,
    default 180); until then it is hidden from every list and class count, never matched by a sync, and
    ``POST /v1/pupils/{pupil_id}/restore`` brings it back whole. Then a daily job purges it: the pupil,
    its class memberships and its test results are removed, and an audit event with ids only remains.
    Deleting a pupil already pending changes nothing (its date stays).

    ``immediate=true`` purges at once (pending or not) and answers 204.
    """
    pupil = await service.get(tenant, pupil_id)
    if immediate:
        await deletion.purge_now(tenant, pupil)
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await service.show(tenant, await deletion.request_deletion(tenant, pupil))


@router.post("/{pupil_id}/restore", response_model=PupilOut)
async def restore_pupil(tenant: Coordinator, pupil_id: uuid.UUID) -> PupilOut:
    """Cancel a pending deletion: the pupil is listed, counted and synced again, with its classes, access
    and data as they were. A pupil that is not pending deletion is returned unchanged."""
    return await service.show(tenant, await deletion.restore(tenant, await service.get(tenant, pupil_id)))
