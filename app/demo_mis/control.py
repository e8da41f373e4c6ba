"""The test-control API under ``/_demo`` (JSON in, JSON out; no auth: a local test tool).

See the package docstring (:mod:`app.demo_mis`) for the list of paths and bodies. Errors are
``{"error": "..."}`` with 400 (bad body) or 404 (unknown pupil or group).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.demo_mis.data import Pupil
from app.demo_mis.faults import Fault
from app.demo_mis.responses import demo, json_response
from app.demo_mis.school import ControlError, School

Handler = Callable[[Request], Awaitable[Response]]


async def body_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ControlError("the body is not JSON") from None
    if not isinstance(value, dict):
        raise ControlError("the body is a JSON object")
    return value


def control(fn: Callable[[Request], Awaitable[Response]]) -> Handler:
    """Turn ControlError into a JSON error answer."""

    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except ControlError as exc:
            return json_response({"error": str(exc)}, exc.status)

    return handler


def school_of(request: Request) -> School:
    return demo(request).school(request.path_params["school_ref"])


def pupil_json(school: School, p: Pupil) -> dict[str, Any]:
    return school.pupil_truth(p)


async def health(request: Request) -> Response:
    return json_response({"ok": True})


async def list_schools(request: Request) -> Response:
    return json_response({"schools": [s.summary() for s in demo(request).schools.values()]})


async def put_school(request: Request) -> Response:
    school = demo(request).configure(request.path_params["school_ref"], await body_of(request))
    return json_response(school.summary())


async def get_school(request: Request) -> Response:
    return json_response(school_of(request).summary())


async def delete_school(request: Request) -> Response:
    state = demo(request)
    ref = request.path_params["school_ref"]
    state.schools.pop(ref, None)
    state.faults.clear(ref)
    return Response(status_code=204)


async def reset(request: Request) -> Response:
    school = school_of(request)
    school.reset()
    return json_response(school.summary())


async def rollover(request: Request) -> Response:
    return json_response(school_of(request).rollover())


async def mis_change(request: Request) -> Response:
    return json_response(school_of(request).mis_change())


async def truth(request: Request) -> Response:
    return json_response(school_of(request).truth())


async def add_pupil(request: Request) -> Response:
    school = school_of(request)
    p = school.add_pupil(await body_of(request))
    return json_response(pupil_json(school, p), 201)


async def edit_pupil(request: Request) -> Response:
    school = school_of(request)
    p = school.edit_pupil(request.path_params["pupil_id"], await body_of(request))
    return json_response(pupil_json(school, p))


async def remove_pupil(request: Request) -> Response:
    school_of(request).remove_pupil(request.path_params["pupil_id"])
    return Response(status_code=204)


async def add_group(request: Request) -> Response:
    body = await body_of(request)
    g = school_of(request).add_group(str(body.get("name", "")), body.get("year", "7"))
    return json_response({"id": g.id, "name": g.name, "nc_year": g.year}, 201)


async def arm_fault(request: Request) -> Response:
    try:
        fault = Fault.parse(await body_of(request))
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    demo(request).faults.arm(request.path_params["school_ref"], fault)
    return json_response(fault.as_dict(), 201)


async def list_faults(request: Request) -> Response:
    return json_response(demo(request).faults.describe(request.path_params["school_ref"]))


async def clear_faults(request: Request) -> Response:
    demo(request).faults.clear(request.path_params["school_ref"])
    return Response(status_code=204)


async def expire_tokens(request: Request) -> Response:
    return json_response({"expired": demo(request).expire_tokens()})


S = "/_demo/schools/{school_ref}"
routes = [
    Route("/_demo/health", control(health), methods=["GET"]),
    Route("/_demo/schools", control(list_schools), methods=["GET"]),
    Route(S, control(put_school), methods=["PUT"]),
    Route(S, control(get_school), methods=["GET"]),
    Route(S, control(delete_school), methods=["DELETE"]),
    Route(S + "/reset", control(reset), methods=["POST"]),
    Route(S + "/rollover", control(rollover), methods=["POST"]),
    Route(S + "/mis-change", control(mis_change), methods=["POST"]),
    Route(S + "/truth", control(truth), methods=["GET"]),
    Route(S + "/pupils", control(add_pupil), methods=["POST"]),
    Route(S + "/pupils/{pupil_id}", control(edit_pupil), methods=["PATCH"]),
    Route(S + "/pupils/{pupil_id}", control(remove_pupil), methods=["DELETE"]),
    Route(S + "/groups", control(add_group), methods=["POST"]),
    Route(S + "/faults", control(arm_fault), methods=["POST"]),
    Route(S + "/faults", control(list_faults), methods=["GET"]),
    Route(S + "/faults", control(clear_faults), methods=["DELETE"]),
    Route("/_demo/oauth/expire", control(expire_tokens), methods=["POST"]),
]
