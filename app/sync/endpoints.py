"""Sync job endpoints: wiring only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status

from app.auth import Coordinator, Reader
from app.errors import COMMON_PROBLEMS, problems
from app.pagination import Cursor, Limit, Page
from app.sync import service
from app.sync.schemas import JobKind, JobStatus, SyncJobCreate, SyncJobOut

router = APIRouter(prefix="/v1/sync-jobs", tags=["sync"], responses=COMMON_PROBLEMS)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=SyncJobOut, responses=problems(409))
async def create_sync_job(
    request: Request,
    response: Response,
    tenant: Coordinator,
    body: SyncJobCreate,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> SyncJobOut:
    """Submit a sync job: fetch registration groups, or preview (or apply) a pupils sync.

    Jobs of a school run one at a time. With ``Idempotency-Key``, the same key and body within 24 hours
    return the same job."""
    job, created = await service.submit(tenant, body, idempotency_key)
    if created:
        await service.enqueue_after_commit(
            tenant.session, request.app.state.redis, job, request.app.state.settings.queue_name
        )
    response.headers["Location"] = f"/v1/sync-jobs/{job.id}"
    return service.to_out(job)


@router.get("", response_model=Page[SyncJobOut])
async def list_sync_jobs(
    tenant: Reader,
    limit: Limit = 100,
    cursor: Cursor = None,
    kind: JobKind | None = None,
    status: JobStatus | None = None,
) -> Page[SyncJobOut]:
    """The school's sync jobs, newest first."""
    return await service.list_page(tenant, limit, cursor, kind, status)


@router.get("/{job_id}", response_model=SyncJobOut)
async def get_sync_job(tenant: Reader, job_id: uuid.UUID) -> SyncJobOut:
    """One sync job: status, progress, counts, guard and error."""
    return service.to_out(await service.get(tenant, job_id))


@router.post(
    "/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=SyncJobOut, responses=problems(409)
)
async def cancel_sync_job(tenant: Coordinator, job_id: uuid.UUID) -> SyncJobOut:
    """Cancel a job before it applies anything. A job that already applied is not undone (409)."""
    return service.to_out(await service.cancel(tenant, job_id))
