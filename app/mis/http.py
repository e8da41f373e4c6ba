"""Resilient HTTP for MIS connectors: timeouts, bounded retries with backoff, 429 and auth errors.

:class:`MisHttp` wraps an ``httpx.AsyncClient`` owned by the caller (the app or the worker) and
sends one logical request, retrying where retrying is safe (every MIS call is a GET, or the
idempotent OAuth token POST):

* 5xx, connection errors and timeouts: up to ``attempts`` tries, sleeping between them with
  exponential backoff and *full jitter* (a uniform draw in ``[0, min(cap, base * 2**n)]``,
  the variant the AWS architecture blog "Exponential Backoff And Jitter" recommends because
  it spreads clients best).
* 429: waits what ``Retry-After`` asks (delta-seconds or an HTTP date, RFC 9110 10.2.3); with
  no usable header, the backoff above. A wait above ``retry_after_cap`` fails at once with
  ``rate_limited`` instead of holding a worker for minutes; so does a 429 on the last try.
* 401 and 403: fail at once with ``credentials_rejected`` unless the caller lists the status
  in ``allow`` (OneRoster refreshes its token on 401; demographics treat 403 as "no permission").
* 404: ``not_found``; other 4xx: ``bad_request``. Statuses in ``allow`` are returned as they are.

Every attempt holds a slot of the options' ``limiter`` (a per provider and host concurrency limit shared
by all workers, :mod:`app.mis.limiter`) while it is in flight, never while it sleeps, and is counted
in ``misync_mis_requests_total`` and ``misync_mis_request_duration_seconds`` by provider and status
(the HTTP status, ``timeout`` or ``error``).

The sleep, jitter and clock functions are injectable so tests never really wait. Logs carry the
provider, method, path, status, attempt and duration only: never query values that could hold
secrets, bodies, or headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from app import metrics
from app.mis.base import MisFetchError
from app.mis.limiter import Limiter

log = logging.getLogger("misync.mis.http")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """Timeouts and retry policy. Defaults suit a nightly sync against a hosted MIS API."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    attempts: int = 5  # tries in total for one request, the first included
    backoff_base: float = 0.5  # seconds; the n-th retry waits up to base * 2**n
    backoff_max: float = 10.0  # cap of one backoff sleep
    retry_after_cap: float = 60.0  # a longer Retry-After fails with rate_limited
    limiter: Limiter | None = None  # per provider and host concurrency limit (None: no limit)

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_timeout, connect=self.connect_timeout)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT; be lenient with sloppy servers
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class MisHttp:
    """One provider's HTTP calls with the policy above. Cheap to create; holds no connection."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        provider: str,
        options: HttpOptions | None = None,
        *,
        sleep: Sleep | None = None,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.client = client
        self.provider = provider
        self.options = options or HttpOptions()
        self._timeout = self.options.timeout
        self._sleep = sleep or asyncio.sleep
        self._jitter = jitter

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        allow: Collection[int] = (),
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or one whose status is in ``allow``.

        Raises MisFetchError(unavailable | rate_limited | credentials_rejected | not_found |
        bad_request).
        """
        opts = self.options
        path = httpx.URL(url).path  # logs and errors name the path only (no query, no host auth)
        last = ""
        for attempt in range(1, opts.attempts + 1):
            started = time.perf_counter()
            try:
                async with self._slot(url):
                    started = time.perf_counter()  # latency is the MIS's, not our wait for a slot
                    response = await self.client.request(
                        method,
                        url,
                        params=params,
                        headers=headers,
                        data=data,
                        auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                        timeout=self._timeout,
                    )
            except httpx.TimeoutException as exc:
                self._observe("timeout", started)
                last = f"timeout ({type(exc).__name__})"
                log.warning(
                    "mis request timed out",
                    extra={"provider": self.provider, "path": path, "attempt": attempt},
                )
                await self._backoff(attempt)
                continue
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise MisFetchError("misconfigured", f"the MIS URL is not usable: {path}") from exc
            except httpx.TransportError as exc:
                self._observe("error", started)
                last = f"connection error ({type(exc).__name__})"
                log.warning(
                    "mis connection failed",
                    extra={"provider": self.provider, "path": path, "attempt": attempt},
                )
                await self._backoff(attempt)
                continue

            status = response.status_code
            self._observe(str(status), started)
            log.debug(
                "mis response",
                extra={
                    "provider": self.provider,
                    "method": method,
                    "path": path,
                    "status": status,
                    "attempt": attempt,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            if 200 <= status < 300 or status in allow:
                return response
            if status >= 500:
                last = f"HTTP {status}"
                await self._backoff(attempt)
                continue
            if status == 429:
                wait = retry_after_seconds(response.headers.get("retry-after"))
                if wait is not None and wait > opts.retry_after_cap:
                    raise MisFetchError(
                        "rate_limited",
                        f"the MIS asked us to wait {wait:.0f} s (Retry-After) on {method} {path}, "
                        f"more than the {opts.retry_after_cap:.0f} s we allow; try again later",
                        429,
                    )
                if attempt == opts.attempts:
                    raise MisFetchError(
                        "rate_limited",
                        f"the MIS kept answering 429 on {method} {path} after {attempt} attempts",
                        429,
                    )
                log.info(
                    "mis rate limited",
                    extra={"provider": self.provider, "path": path, "wait_s": wait, "attempt": attempt},
                )
                if wait is None:
                    await self._backoff(attempt)
                else:
                    await self._sleep(wait)
                continue
            if status in (401, 403):
                raise MisFetchError(
                    "credentials_rejected",
                    f"credentials rejected by the MIS (HTTP {status} on {method} {path})",
                    status,
                )
            if status == 404:
                raise MisFetchError("not_found", f"the MIS has no {path} (HTTP 404)", 404)
            raise MisFetchError("bad_request", f"the MIS refused {method} {path} (HTTP {status})", status)

        raise MisFetchError(
            "unavailable",
            f"the MIS is unavailable: {method} {path} failed {opts.attempts} times (last: {last})",
        )

    def _slot(self, url: str) -> contextlib.AbstractAsyncContextManager[Any]:
        limiter = self.options.limiter
        if limiter is None:
            return contextlib.nullcontext()
        parsed = httpx.URL(url)
        host = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
        return limiter.slot(self.provider, host)

    def _observe(self, status: str, started: float) -> None:
        metrics.MIS_REQUESTS.labels(self.provider, status).inc()
        metrics.MIS_LATENCY.labels(self.provider, status).observe(time.perf_counter() - started)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("GET", ...)``."""
        return await self.request("GET", url, **kwargs)

    async def _backoff(self, attempt: int) -> None:
        """Full-jitter exponential backoff; no sleep after the last attempt."""
        if attempt >= self.options.attempts:
            return
        ceiling = min(self.options.backoff_max, self.options.backoff_base * 2 ** (attempt - 1))
        await self._sleep(self._jitter(0.0, ceiling))


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The response body as a JSON object, or MisFetchError(bad_response) naming ``what``."""
    try:
        body = orjson.loads(response.content)  # several times faster than json on large pages
    except orjson.JSONDecodeError:
        raise MisFetchError(
            "bad_response", f"{what}: the MIS answered {response.status_code} with a body that is not JSON"
        ) from None
    if type(body) is not dict:
        raise MisFetchError("bad_response", f"{what}: the MIS answered with JSON that is not an object")
    return body
