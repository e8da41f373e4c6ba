"""MisHttp: retries, backoff, Retry-After, auth failures; no real sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from mis_fakes import Sleeps, client_for

from app.mis.base import MisFetchError
from app.mis.http import HttpOptions, MisHttp, retry_after_seconds

URL = "https://mis.test/v1/things"


def scripted(*answers: httpx.Response | Exception):
    queue = list(answers)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def make(handler, sleeps: Sleeps, **options: float) -> MisHttp:
    # jitter returns its upper bound so the backoff schedule is visible in the test
    return MisHttp(
        client_for(handler),
        "test",
        HttpOptions(**options),
        sleep=sleeps,
        jitter=lambda lo, hi: hi,
    )


async def test_5xx_then_success_retries_with_exponential_backoff() -> None:
    handler, seen = scripted(httpx.Response(500), httpx.Response(502), httpx.Response(503), httpx.Response(200))
    sleeps = Sleeps()
    response = await make(handler, sleeps).get(URL)
    assert response.status_code == 200 and len(seen) == 4
    assert sleeps.calls == [0.5, 1.0, 2.0]


async def test_persistent_5xx_is_unavailable_after_bounded_attempts() -> None:
    handler, seen = scripted(*[httpx.Response(503)] * 5)
    sleeps = Sleeps()
    with pytest.raises(MisFetchError) as info:
        await make(handler, sleeps).get(URL)
    assert info.value.code == "unavailable" and "5 times" in info.value.detail and "HTTP 503" in info.value.detail
    assert len(seen) == 5 and sleeps.calls == [0.5, 1.0, 2.0, 4.0]  # no sleep after the last try


async def test_backoff_is_capped() -> None:
    handler, _ = scripted(*[httpx.Response(500)] * 6)
    sleeps = Sleeps()
    with pytest.raises(MisFetchError):
        await make(handler, sleeps, attempts=6, backoff_max=1.5).get(URL)
    assert sleeps.calls == [0.5, 1.0, 1.5, 1.5, 1.5]


async def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    handler, _ = scripted(httpx.Response(500), httpx.Response(200))
    draws: list[tuple[float, float]] = []
    sleeps = Sleeps()

    def jitter(lo: float, hi: float) -> float:
        draws.append((lo, hi))
        return 0.1

    http = MisHttp(client_for(handler), "test", sleep=sleeps, jitter=jitter)
    await http.get(URL)
    assert draws == [(0.0, 0.5)] and sleeps.calls == [0.1]


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.ConnectError("refused")]
)
async def test_timeouts_and_connection_errors_are_retried(error: Exception) -> None:
    handler, seen = scripted(error, httpx.Response(200))
    sleeps = Sleeps()
    assert (await make(handler, sleeps).get(URL)).status_code == 200
    assert len(seen) == 2 and len(sleeps.calls) == 1


async def test_persistent_timeouts_are_unavailable() -> None:
    handler, _ = scripted(*[httpx.ReadTimeout("slow")] * 5)
    with pytest.raises(MisFetchError) as info:
        await make(handler, Sleeps()).get(URL)
    assert info.value.code == "unavailable" and "timeout" in info.value.detail


async def test_429_honours_retry_after_seconds() -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200))
    sleeps = Sleeps()
    assert (await make(handler, sleeps).get(URL)).status_code == 200
    assert sleeps.calls == [7.0]


async def test_429_honours_retry_after_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200))
    sleeps = Sleeps()
    await make(handler, sleeps).get(URL)
    assert len(sleeps.calls) == 1 and 25 <= sleeps.calls[0] <= 30


async def test_429_without_retry_after_backs_off() -> None:
    handler, _ = scripted(httpx.Response(429), httpx.Response(200))
    sleeps = Sleeps()
    await make(handler, sleeps).get(URL)
    assert sleeps.calls == [0.5]


async def test_429_asking_too_long_fails_rate_limited_without_waiting() -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    sleeps = Sleeps()
    with pytest.raises(MisFetchError) as info:
        await make(handler, sleeps).get(URL)
    assert info.value.code == "rate_limited" and info.value.status == 429
    assert sleeps.calls == [] and len(seen) == 1


async def test_429_forever_fails_rate_limited() -> None:
    handler, seen = scripted(*[httpx.Response(429, headers={"Retry-After": "1"})] * 5)
    sleeps = Sleeps()
    with pytest.raises(MisFetchError) as info:
        await make(handler, sleeps).get(URL)
    assert info.value.code == "rate_limited" and len(seen) == 5 and sleeps.calls == [1.0] * 4


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failures_fail_at_once(status: int) -> None:
    handler, seen = scripted(httpx.Response(status), httpx.Response(200))
    sleeps = Sleeps()
    with pytest.raises(MisFetchError) as info:
        await make(handler, sleeps).get(URL)
    assert info.value.code == "credentials_rejected" and info.value.status == status
    assert "credentials rejected by the MIS" in info.value.detail
    assert len(seen) == 1 and sleeps.calls == []


async def test_allowed_status_is_returned() -> None:
    handler, _ = scripted(httpx.Response(403))
    assert (await make(handler, Sleeps()).get(URL, allow=(403,))).status_code == 403


@pytest.mark.parametrize(("status", "code"), [(404, "not_found"), (400, "bad_request"), (422, "bad_request")])
async def test_other_4xx(status: int, code: str) -> None:
    handler, seen = scripted(httpx.Response(status))
    with pytest.raises(MisFetchError) as info:
        await make(handler, Sleeps()).get(URL)
    assert info.value.code == code and len(seen) == 1


async def test_timeouts_are_applied_per_request() -> None:
    captured: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request.extensions["timeout"])
        return httpx.Response(200)

    await MisHttp(client_for(handler), "test", HttpOptions(connect_timeout=2, read_timeout=9)).get(URL)
    assert captured[0]["connect"] == 2 and captured[0]["read"] == 9


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0  # in the past
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
    assert retry_after_seconds("-5", now) is None
