"""Small helpers shared by the provider handlers: compact JSON, auth headers, early faults."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.demo_mis.faults import Fault
from app.demo_mis.state import DemoState

JSON = "application/json"


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 friendly (accents travel as themselves, not as \\u escapes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(value), status_code=status, media_type=JSON, headers=headers)


def raw_json(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response from already serialised JSON (the fast path for pages)."""
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def demo(request: Request) -> DemoState:
    state: DemoState = request.app.state.demo
    return state


def bearer(request: Request) -> str | None:
    """The bearer token, or the username of HTTP Basic auth (Wonde accepts ``-u token:``)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            user, _, _ = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    return None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(user, password)`` from HTTP Basic auth, if present and well formed."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


async def early_fault(fault: Fault | None, error: Any) -> Response | None:
    """Answer the faults that replace the whole response; sleep for ``slow``.

    ``error(status, message)`` builds the provider's error response. Returns None when the
    request should go on to the handler (no fault, ``slow`` after its delay, or a body fault).
    """
    if fault is None:
        return None
    if fault.mode == "slow":
        # A real delay is the point of this fault: the client's timeout is under test.
        await asyncio.sleep(fault.delay_ms / 1000)
        return None
    if fault.mode == "server_error":
        response: Response = error(500, "Internal Server Error (injected)")
        return response
    if fault.mode == "rate_limited":
        response = error(429, "Too Many Requests (injected)")
        response.headers["Retry-After"] = str(fault.retry_after)
        return response
    if fault.mode == "unauthorized":
        response = error(401, "Credentials rejected (injected)")
        return response
    if fault.mode == "forbidden":
        response = error(403, "Forbidden (injected)")
        return response
    return None


def malformed(item_json: str, id_key: str) -> str:
    """``item_json`` broken the way a bad MIS record is: no id, values of the wrong type."""
    item = json.loads(item_json)
    item[id_key] = None
    for key in ("forename", "givenName", "name", "title"):
        if key in item:
            item[key] = 12345
    for key in ("date_of_birth", "dateLastModified"):
        if key in item:
            item[key] = {"date": "31/02/2012"} if key == "date_of_birth" else "yesterday"
    return dumps(item)
