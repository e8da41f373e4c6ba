"""A small typed error hierarchy, rendered as RFC 9457 ``application/problem+json``.

Services raise these; the handlers installed by ``install_error_handlers`` turn them, framework errors
(404, 405, 422) and anything unexpected (500, no stack trace) into problem documents.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("misync.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://misync.dev/problems/"

#: Errors that mean PostgreSQL or Redis is unreachable: 503, not 500.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
)


class ProblemError(BaseModel):
    """One validation error: where (``loc``) and what (``msg``)."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="A URI identifying the problem type.")
    title: str
    status: int
    detail: str | None = None
    errors: list[ProblemError] | None = Field(default=None, description="Validation errors, if any.")


class AppError(Exception):
    """Base of every error misync reports to clients."""

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[ProblemError] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.extra = extra or {}

    def problem(self) -> dict[str, Any]:
        """The problem document for this error."""
        return problem_body(self.status, self.slug, self.title, self.detail, self.errors, self.extra)


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed for this key's role"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class Unprocessable(AppError):
    status, slug, title = 422, "validation-error", "Request validation failed"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


def problem_body(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    errors: Sequence[ProblemError] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a problem document (``errors`` only when there are some)."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail or title}
    if errors:
        body["errors"] = [e.model_dump() for e in errors]
    if extra:
        body.update(extra)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=int(body["status"]), media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[ProblemError]:
    out = []
    for err in exc.errors():
        loc = [p if isinstance(p, int | str) else str(p) for p in err.get("loc", ())]
        # The message never echoes the input: it may be a pupil's name.
        out.append(ProblemError(loc=loc, msg=str(err.get("msg", "invalid value"))))
    return out


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem_response(exc.problem(), headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    if errors and all(e.loc and e.loc[0] == "path" for e in errors):
        # A malformed id in the path names nothing that exists.
        return problem_response(problem_body(404, NotFound.slug, NotFound.title, "No such resource"))
    if any(e.loc[:1] == ["body"] and e.msg.startswith("JSON decode error") for e in errors):
        return problem_response(
            problem_body(400, "malformed-json", "Malformed JSON body", "The request body is not valid JSON", errors)
        )
    return problem_response(
        problem_body(422, Unprocessable.slug, Unprocessable.title, "The request did not validate; see errors", errors)
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    slug = title.lower().replace(" ", "-")
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(problem_body(status, slug, title, detail), dict(exc.headers or {}) or None)


async def _dependency_down(_: Request, exc: Exception) -> JSONResponse:
    log.warning("dependency unavailable", extra={"error": type(exc).__name__})
    return problem_response(
        problem_body(
            503,
            ServiceUnavailable.slug,
            ServiceUnavailable.title,
            "A database or queue server is unavailable; try again shortly",
        ),
        {"Retry-After": "5"},
    )


#: SQLSTATEs of text PostgreSQL cannot store (a NUL byte, a character the encoding lacks): bad input.
_UNSTORABLE_TEXT = {"22021", "22P05"}


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # A pooled connection that PostgreSQL dropped (a restart, a failover) surfaces as a plain DBAPIError
    # with ``connection_invalidated``; SQLAlchemy has discarded the pool, so the next request reconnects.
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return await _dependency_down(request, exc)
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _UNSTORABLE_TEXT:
        # Request bodies refuse NUL when they validate; this catches query and header values.
        return problem_response(
            problem_body(
                422,
                Unprocessable.slug,
                Unprocessable.title,
                "The request holds text that cannot be stored (such as the NUL character)",
            )
        )
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(
        problem_body(500, AppError.slug, AppError.title, "An unexpected error happened; it has been logged")
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a problem document."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Other database errors: 503 when the connection died under the request, 500 otherwise (the more
    # specific types above and in DEPENDENCY_ERRORS keep their own handlers).
    app.add_exception_handler(DBAPIError, _database_error)
    for exc_type in DEPENDENCY_ERRORS:
        app.add_exception_handler(exc_type, _dependency_down)
    app.add_exception_handler(Exception, _unexpected)


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


#: OpenAPI ``responses`` for the problems every authenticated school endpoint can give.
COMMON_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": desc, "content": _problem_content()}
    for status, desc in (
        (400, "Malformed request"),
        (401, "Missing or invalid token"),
        (403, "The key's role may not do this"),
        (404, "Not found (or another school's)"),
        (413, "Request body too large"),
        (422, "Validation failed"),
        (500, "Unexpected error"),
        (503, "A dependency is unavailable"),
    )
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these extra problem statuses (e.g. 409)."""
    return {s: {"description": HTTPStatus(s).phrase, "content": _problem_content()} for s in statuses}
