"""``create_app``: the simulator as one Starlette ASGI app (both providers and ``/_demo``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from app.demo_mis import control, oneroster, wonde
from app.demo_mis.responses import json_response
from app.demo_mis.state import DemoState


async def not_found(request: Request, exc: Exception) -> Response:
    return json_response({"error": "Not Found", "path": request.url.path}, 404)


def create_app(
    *,
    seed: int = 1,
    default_pupils: int = 600,
    wonde_token: str = "demo-wonde-token",  # noqa: S107 - a published demo credential
    client_id: str = "demo-client",
    client_secret: str = "demo-secret",  # noqa: S107 - a published demo credential
    state: DemoState | None = None,
) -> Starlette:
    """A simulator serving Wonde, OneRoster 1.2 and the control API on one port.

    Schools are generated lazily from ``(seed, school_ref)`` with ``default_pupils`` pupils.
    ``app.state.demo`` is the :class:`~app.demo_mis.state.DemoState` (pass ``state`` to share
    one). Starlette rather than FastAPI: no validation layer on the hot path, pages are
    assembled from pre-serialised JSON.
    """
    app = Starlette(
        routes=[*wonde.routes, *oneroster.routes, *control.routes],
        exception_handlers={404: not_found},
    )
    app.state.demo = state or DemoState(
        seed=seed,
        default_pupils=default_pupils,
        wonde_token=wonde_token,
        client_id=client_id,
        client_secret=client_secret,
    )
    app.state.demographics_cache = {}
    return app
