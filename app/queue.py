"""The only module of ``app/`` that talks to arq: enqueue a sync job by id, after commit.

The job row in PostgreSQL is the source of truth. The arq job id is deterministic
(``sync_job:<id>``), so enqueueing twice is harmless; a worker's sweeper re-enqueues jobs whose
worker died or whose enqueue was lost.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

log = logging.getLogger("misync.queue")

JOB_FUNCTION = "run_sync_job"
#: How often workers rewrite their health-check key (arq ``health_check_interval``, seconds).
HEALTH_CHECK_INTERVAL_S = 10


def health_check_key(queue_name: str) -> str:
    """The key arq workers of ``queue_name`` keep alive (``arq --check`` reads it)."""
    return f"{queue_name}:health-check"


def serialize(value: dict[str, Any]) -> bytes:
    """arq payloads are JSON, never pickle."""
    return json.dumps(value, default=str).encode()


def deserialize(value: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(value)
    return result


def arq_job_id(job_id: uuid.UUID | str) -> str:
    return f"sync_job:{job_id}"


def redis_settings(redis_url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(redis_url)
    settings.conn_timeout = 2
    settings.conn_retries = 1
    return settings


def connect(redis_url: str) -> ArqRedis:
    """A Redis client for enqueueing and pub/sub. It connects lazily, so the API starts (and reports
    itself not ready) while Redis is down, and recovers when it is back."""
    pool = ConnectionPool.from_url(redis_url, socket_connect_timeout=2, socket_timeout=10)
    return ArqRedis(connection_pool=pool, job_serializer=serialize, job_deserializer=deserialize)


async def enqueue(redis: ArqRedis, job_id: uuid.UUID, queue_name: str) -> bool:
    """Put the job on the queue; False (logged) when Redis is unreachable: the sweeper retries later."""
    try:
        await redis.enqueue_job(JOB_FUNCTION, str(job_id), _job_id=arq_job_id(job_id), _queue_name=queue_name)
    except (RedisError, OSError) as exc:
        log.warning("enqueue failed; the sweeper will retry", extra={"job": str(job_id), "error": type(exc).__name__})
        return False
    return True
