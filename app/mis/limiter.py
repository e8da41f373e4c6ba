"""A concurrency limit per MIS provider and host, shared by every worker: a Redis semaphore.

Many schools share one MIS API (every Wonde school is behind ``api.wonde.com``). However many workers
and jobs run, at most ``limit`` requests to one provider and host are in flight at once; the others
wait their turn (polling, with a little jitter). A slot is one HTTP attempt, never a whole fetch, so a
huge school's fetch interleaves with the small schools' fetches instead of holding a slot for minutes,
and a backoff sleep holds no slot.

A slot is a member of a Redis sorted set scored with the Redis server's clock: taking one first drops
members older than ``ttl_s``, so a slot held by a worker that crashed is free again after ``ttl_s``
(longer than any single request may take). If Redis cannot be reached the request goes ahead without a
slot (logged): the limit protects the MIS, it must not stop syncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from redis.exceptions import RedisError

from app import metrics

log = logging.getLogger("misync.mis.limiter")

KEY_PREFIX = "misync:mis-slots"

# Atomically: forget expired slots, then take one if fewer than the limit are held. Times are the
# Redis server's (milliseconds), so workers' clocks do not matter.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
return 0
"""


class Limiter(Protocol):
    """What :class:`app.mis.http.MisHttp` needs: a slot for one request to ``provider`` at ``host``."""

    def slot(self, provider: str, host: str) -> AbstractAsyncContextManager[None]: ...


class RedisSemaphore:
    """At most ``limit`` holders per (provider, host) across processes; slots expire after ``ttl_s``."""

    def __init__(self, redis: Any, limit: int, *, ttl_s: float = 300.0, poll_s: float = 0.05) -> None:
        self.redis = redis
        self.limit = limit
        self.ttl_ms = int(ttl_s * 1000)
        self.poll_s = poll_s

    @staticmethod
    def key(provider: str, host: str) -> str:
        return f"{KEY_PREFIX}:{provider}:{host.lower()}"

    async def _try(self, key: str, token: str) -> bool:
        return bool(await self.redis.eval(_ACQUIRE, 1, key, token, self.ttl_ms, self.limit))

    @asynccontextmanager
    async def slot(self, provider: str, host: str) -> AsyncIterator[None]:
        """Hold one of the provider's slots for the body of the ``async with``."""
        key, token = self.key(provider, host), uuid.uuid4().hex
        started = time.perf_counter()
        held = False
        try:
            while True:
                held = await self._try(key, token)
                if held:
                    break
                await asyncio.sleep(self.poll_s * (1 + random.random()))
        except (RedisError, OSError) as exc:
            log.warning("MIS concurrency limit unavailable; going ahead", extra={"error": type(exc).__name__})
        metrics.MIS_SLOT_WAIT.labels(provider).observe(time.perf_counter() - started)
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(RedisError, OSError):  # else the slot expires on its own
                    await self.redis.zrem(key, token)
