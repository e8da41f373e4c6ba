"""``GET/PUT /v1/school/schedule``: the school's nightly sync, set by its coordinator."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.auth import Coordinator, Reader
from app.errors import COMMON_PROBLEMS
from app.schedule import service
from app.schedule.schemas import ScheduleIn, ScheduleOut

router = APIRouter(prefix="/v1/school/schedule", tags=["school"], responses=COMMON_PROBLEMS)


def _max_jitter_s(request: Request) -> int:
    return int(request.app.state.settings.schedule_max_jitter_s)


@router.get("", response_model=ScheduleOut)
async def get_schedule(request: Request, tenant: Reader) -> ScheduleOut:
    """The school's nightly sync: its local time and time zone, the summer pause, when the next run
    starts (UTC, with the school's fixed delay of up to 15 minutes included) and in which mode, and
    the job of the last scheduled run."""
    return await service.get(tenant, _max_jitter_s(request))


@router.put("", response_model=ScheduleOut)
async def put_schedule(request: Request, tenant: Coordinator, body: ScheduleIn) -> ScheduleOut:
    """Set the school's nightly sync (coordinator). The whole schedule is replaced; other settings stay.

    Each night at ``sync_time`` (in ``timezone``) misync runs a pupils sync in ``apply`` mode: changes
    that need no decision are applied; ``may_match`` items and plans the safety guard holds are left
    for review (``sync_job.awaiting_review`` / ``sync_job.held`` events). The first sync after the MIS
    moves to a new academic year is always held (promotion is a decision). Within ``summer_pause`` the
    nightly run is a ``preview`` only. No run is made while the school has a job running or before it
    has set up a class mapping. ``sync_time: null`` turns the nightly sync off. The operator can set the
    same fields through ``PATCH /v1/admin/schools/{school_id}`` ``settings``."""
    return await service.put(tenant, body, _max_jitter_s(request))
