"""Small helpers for tests that talk to the API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

FINAL = {"succeeded", "failed", "cancelled", "awaiting_review", "held"}


async def wait_for_job(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    job_id: str,
    until: set[str] | frozenset[str] = frozenset(FINAL),
    timeout: float = 90.0,
) -> dict[str, Any]:
    """Poll the job until its status is in ``until`` (a condition with a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(f"/v1/sync-jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s: {job}")
        await asyncio.sleep(0.05)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    return body
