"""Sync job endpoints: wiring only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import StreamingResponse

from app.auth import Coordinator, Reader
from app.errors import COMMON_PROBLEMS, problems
from app.pagination import Cursor, Limit, Page
from app.sync import review, service
from app.sync.events import job_events
from app.sync.schemas import ApplyRequest, JobKind, JobStatus, PlanItemOut, PlanTag, SyncJobCreate, SyncJobOut

router = APIRouter(prefix="/v1/sync-jobs", tags=["sync"], responses=COMMON_PROBLEMS)

#: One server-sent event of the events stream (OpenAPI 3.1: the ``schema`` of an event stream describes
#: each event); ``data`` is the job as JSON.
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["status", "end"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/SyncJobOut"},
        },
    },
    "required": ["event", "data"],
}


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


@router.get("/{job_id}/items", response_model=Page[PlanItemOut])
async def list_sync_job_items(
    tenant: Reader, job_id: uuid.UUID, tag: PlanTag | None = None, limit: Limit = 100, cursor: Cursor = None
) -> Page[PlanItemOut]:
    """The plan of a pupils job, in plan order: one item per pupil with its tag, evidence and changes."""
    job = await service.get(tenant, job_id)
    return await review.list_items(tenant, job, tag, limit, cursor)


@router.post(
    "/{job_id}/apply", status_code=status.HTTP_202_ACCEPTED, response_model=SyncJobOut, responses=problems(409)
)
async def apply_sync_job(request: Request, tenant: Coordinator, job_id: uuid.UUID, body: ApplyRequest) -> SyncJobOut:
    """Apply the reviewed plan: the selected items all together, or none. 409 when the plan is held
    (without ``override_guard``), superseded, already applied, or the roster changed since the preview."""
    job = await review.request_apply(tenant, job_id, body)
    await service.enqueue_after_commit(
        tenant.session, request.app.state.redis, job, request.app.state.settings.queue_name
    )
    return service.to_out(job)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
            "description": "Server-sent events: `status` with the job, then `end`.",
        }
    },
)
async def stream_sync_job_events(request: Request, tenant: Reader, job_id: uuid.UUID) -> StreamingResponse:
    """Stream the job's status and progress as server-sent events until it ends or waits for review."""
    job = await service.get(tenant, job_id)
    return StreamingResponse(
        job_events(request, job.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
