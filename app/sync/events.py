"""``GET /v1/sync-jobs/{id}/events``: the job's status and progress as server-sent events until it rests.

The worker publishes on a Redis channel at every step; the stream also re-reads the job row every
couple of seconds, so a missed message (or Redis being away) only delays an update.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from fastapi import Request
from redis.exceptions import RedisError

from app.models import SyncJob
from app.sync.runner import status_channel
from app.sync.schemas import FINAL_STATUSES
from app.sync.service import to_out

#: Statuses after which a job does nothing until someone acts.
RESTING_STATUSES = FINAL_STATUSES | {"awaiting_review", "held"}
POLL_S = 2.0


async def job_events(request: Request, job_id: uuid.UUID) -> AsyncIterator[str]:
    """Yield ``event: status`` messages with the job whenever it changes; ``event: end`` when it rests."""
    factory = request.app.state.session_factory
    pubsub = request.app.state.redis.pubsub()
    try:
        await pubsub.subscribe(status_channel(job_id))
    except (RedisError, OSError):
        pubsub = None
    last = ""
    try:
        while True:
            async with factory() as session:
                job = await session.get(SyncJob, job_id)
            assert job is not None
            payload = to_out(job).model_dump_json()
            if payload != last:
                yield f"event: status\ndata: {payload}\n\n"
                last = payload
            if job.status in RESTING_STATUSES:
                yield f"event: end\ndata: {payload}\n\n"
                return
            if await request.is_disconnected():
                return
            if pubsub is None:
                await asyncio.sleep(POLL_S)
                continue
            try:
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
            except (RedisError, OSError):
                pubsub = None
    finally:
        if pubsub is not None:
            await pubsub.aclose()
