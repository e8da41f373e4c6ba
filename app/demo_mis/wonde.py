"""Wonde v1.0 wire shape: ``/v1.0/schools/{school_ref}/...``.

Auth: ``Authorization: Bearer <token>`` (or HTTP Basic with the token as user name, as Wonde
allows); anything else answers 401 ``{"error": ...}``.

Endpoints (all lists paginated the same way):

* ``GET students`` ``?include=education_details,groups,year,registration,house``; a student has
  ``id``, ``upi``, ``mis_id``, ``initials``, ``surname``/``forename`` (preferred),
  ``legal_surname``/``legal_forename``, ``middle_names``, ``gender`` ("M"/"F"),
  ``date_of_birth``, ``restored_at``, ``created_at``, ``updated_at``. Dates are
  ``{"date": "2012-03-15 00:00:00.000000", "timezone_type": 3, "timezone": "UTC"}`` or null.
  Includes are wrapped: ``education_details: {"data": {"admission_number", "upn", "former_upn",
  "local_upn", "current_nc_year", "admission_date", "leaving_date", ...}}``, ``groups: {"data":
  [group, ...]}`` (the pupil's REGISTRATION, YEAR and HOUSE groups), ``year``/``registration``/
  ``house: {"data": group}``. A school set up without education details answers that include
  as configured (key omitted, ``{"data": null}`` or ``{"data": []}``).
* ``GET students/{id}``: ``{"data": student}`` (same includes).
* ``GET groups`` ``?type=REGISTRATION|YEAR|HOUSE&include=students,year``; a group has ``id``,
  ``mis_id``, ``name`` ("7A"), ``code``, ``type``, ``description`` ("Year 7 registration group
  7A"), ``restored_at``, ``created_at``, ``updated_at``. Wonde's group object carries no year
  field, so the year is in the name/description; ``include=year`` (a simulator extra) nests
  the YEAR group (``code`` "7", ``name`` "Year 7").
* ``GET groups/{id}``: ``{"data": group}``.
* ``GET deletions?type=student|group``: ``{"id", "type", "restored": false, "deleted_at",
  "restored_at": null}`` for records removed (leavers, rollover, MIS change).
* Every list takes ``updated_after``/``updated_before`` (``YYYY-MM-DD HH:MM:SS``; on deletions
  they compare ``deleted_at``).

Pagination: ``per_page`` (default 50, at most 200: larger values are clamped), and either
``page=N`` or ``cursor=true`` (then ``next`` carries an opaque ``cursor`` that resumes after the
last id, so pages stay stable while records change). Items are in id order. Envelope: ``{"data":
[...], "meta": {"pagination": {"next": absolute URL | null, "previous": URL | null, "more":
bool, "per_page": n, "current_page": n}}}``.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.demo_mis.data import Group, Pupil
from app.demo_mis.faults import Fault
from app.demo_mis.responses import bearer, demo, dumps, early_fault, json_response, malformed, raw_json
from app.demo_mis.school import School

PROVIDER = "wonde"
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
STUDENT_INCLUDES = ("education_details", "groups", "year", "registration", "house")


def wonde_error(status: int, message: str) -> Response:
    return json_response({"error": message, "error_description": message}, status)


def date_obj(value: date | datetime | None) -> dict[str, Any] | None:
    """Wonde's date object (PHP DateTime as JSON)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        text = f"{value.isoformat()} 00:00:00.000000"
    return {"date": text, "timezone_type": 3, "timezone": "UTC"}


def parse_when(value: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` (or ISO 8601, or a date), as UTC."""
    text = value.strip().replace("T", " ").removesuffix("Z")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# -- serialisation (cached per school version) ------------------------------------------------


def group_dict(g: Group) -> dict[str, Any]:
    return {
        "id": g.id,
        "mis_id": g.mis_id,
        "name": g.name,
        "code": g.code,
        "type": g.kind,
        "description": g.description,
        "restored_at": None,
        "created_at": date_obj(g.created_at),
        "updated_at": date_obj(g.updated_at),
    }


def student_dict(p: Pupil) -> dict[str, Any]:
    return {
        "id": p.id,
        "upi": p.upi,
        "mis_id": p.mis_id,
        "initials": (p.forename[:1] + p.surname[:1]).upper(),
        "surname": p.surname,
        "forename": p.forename,
        "middle_names": p.middle_names,
        "legal_surname": p.legal_surname,
        "legal_forename": p.legal_forename,
        "gender": p.gender,
        "date_of_birth": date_obj(p.dob),
        "restored_at": None,
        "created_at": date_obj(p.created_at),
        "updated_at": date_obj(p.updated_at),
    }


def education_dict(p: Pupil) -> dict[str, Any]:
    return {
        "admission_number": p.mis_id,
        "upn": p.upn,
        "former_upn": None,
        "local_upn": None,
        "learner_number": None,
        "current_nc_year": p.year,
        "part_time": False,
        "admission_date": date_obj(p.admission_date),
        "leaving_date": None,
    }


class Serialised:
    """Per-school JSON fragments, built once per version and composed per include set."""

    def __init__(self, school: School) -> None:
        d = school.data
        self.school = school
        self.groups = {gid: dumps(group_dict(g)) for gid, g in d.groups.items()}
        self.year_group = {g.year: g.id for g in d.groups.values() if g.kind == "YEAR"}
        self.pupils = sorted(d.pupils.values(), key=lambda p: p.id)
        self.ids = [p.id for p in self.pupils]
        self.base = [dumps(student_dict(p))[:-1] for p in self.pupils]  # without the closing brace
        self.by_include: dict[frozenset[str], list[str]] = {}

    def missing_education(self) -> str | None:
        style = self.school.options.wonde_missing_include
        return None if style == "omit" else ('{"data":null}' if style == "null" else '{"data":[]}')

    def one(self, gid: str | None) -> str:
        return '{"data":' + (self.groups.get(gid, "null") if gid else "null") + "}"

    def student(self, index: int, includes: frozenset[str]) -> str:
        p = self.pupils[index]
        parts = [self.base[index]]
        if "education_details" in includes:
            if self.school.options.wonde_education_details:
                parts.append(',"education_details":{"data":' + dumps(education_dict(p)) + "}")
            else:
                missing = self.missing_education()
                if missing is not None:
                    parts.append(',"education_details":' + missing)
        year_gid = self.year_group.get(p.year)
        if "groups" in includes:
            member = [gid for gid in (p.reg_id, year_gid, p.house_id) if gid in self.groups]
            parts.append(',"groups":{"data":[' + ",".join(self.groups[g] for g in member) + "]}")
        if "year" in includes:
            parts.append(',"year":' + self.one(year_gid))
        if "registration" in includes:
            parts.append(',"registration":' + self.one(p.reg_id))
        if "house" in includes:
            parts.append(',"house":' + self.one(p.house_id))
        parts.append("}")
        return "".join(parts)

    def students(self, includes: frozenset[str]) -> list[str]:
        found = self.by_include.get(includes)
        if found is None:
            found = self.by_include[includes] = [self.student(i, includes) for i in range(len(self.pupils))]
        return found


def serialised(school: School) -> Serialised:
    found = school.cache.get("wonde")
    if found is None:
        found = school.cache["wonde"] = Serialised(school)
    assert isinstance(found, Serialised)
    return found


# -- pagination --------------------------------------------------------------------------------


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


def page(request: Request, ids: list[str], items: list[str], fault: Fault | None) -> Response:
    """One page of ``items`` (JSON strings, aligned with the sorted ``ids``) in Wonde's envelope."""
    q = request.query_params
    try:
        per_page = min(MAX_PER_PAGE, max(1, int(q.get("per_page", DEFAULT_PER_PAGE))))
        page_no = max(1, int(q.get("page", "1")))
    except ValueError:
        return wonde_error(400, "per_page and page must be integers")
    cursor = q.get("cursor")
    cursor_mode = cursor is not None
    if cursor_mode and cursor not in ("true", "1", ""):
        try:
            start = bisect_right(ids, decode_cursor(str(cursor)))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return wonde_error(400, "invalid cursor")
    else:
        start = (page_no - 1) * per_page
    end = min(len(items), start + per_page)
    chunk = items[start:end]
    more = end < len(items)
    current = start // per_page + 1
    url = request.url
    if cursor_mode:
        nxt = str(url.include_query_params(cursor=encode_cursor(ids[end - 1]))) if more else None
        previous = None
    else:
        nxt = str(url.include_query_params(page=page_no + 1)) if more else None
        previous = str(url.include_query_params(page=page_no - 1)) if page_no > 1 else None
    mode = fault.mode if fault is not None else None
    if mode == "empty":
        chunk, more, nxt = [], False, None
    elif mode == "truncated":
        more, nxt = True, None
    elif mode == "duplicate_ids" and chunk:
        dup = items[start - 1] if start > 0 else chunk[0]
        chunk = [*chunk[:-1], dup] if len(chunk) > 1 or start > 0 else [*chunk, dup]
    elif mode == "malformed_record" and chunk:
        chunk = [malformed(chunk[0], "id"), *chunk[1:]]
    if mode == "no_envelope":
        return raw_json("[" + ",".join(chunk) + "]")
    meta = {
        "pagination": {"next": nxt, "previous": previous, "more": more, "per_page": per_page, "current_page": current}
    }
    return raw_json('{"data":[' + ",".join(chunk) + '],"meta":' + dumps(meta) + "}")


# -- handlers ---------------------------------------------------------------------------------


async def guard(request: Request, endpoint: str) -> tuple[School, Fault | None] | Response:
    """Auth, then the school, then faults. A Response means: answer that."""
    state = demo(request)
    if bearer(request) != state.wonde_token:
        return wonde_error(401, "Unauthenticated.")
    ref = request.path_params["school_ref"]
    school = state.school(ref)
    fault = state.faults.take(ref, PROVIDER, endpoint)
    early = await early_fault(fault, wonde_error)
    if early is not None:
        return early
    return school, fault


def includes_of(request: Request) -> frozenset[str]:
    raw = request.query_params.get("include", "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def time_window(request: Request) -> tuple[datetime | None, datetime | None] | Response:
    q = request.query_params
    try:
        after = parse_when(q["updated_after"]) if q.get("updated_after") else None
        before = parse_when(q["updated_before"]) if q.get("updated_before") else None
    except ValueError:
        return wonde_error(400, "updated_after/updated_before must be 'YYYY-MM-DD HH:MM:SS'")
    return after, before


def in_window(when: datetime, window: tuple[datetime | None, datetime | None]) -> bool:
    after, before = window
    return (after is None or when > after) and (before is None or when < before)


async def students(request: Request) -> Response:
    got = await guard(request, "students")
    if isinstance(got, Response):
        return got
    school, fault = got
    window = time_window(request)
    if isinstance(window, Response):
        return window
    ser = serialised(school)
    includes = includes_of(request)
    items = ser.students(includes)
    ids = ser.ids
    if window != (None, None):
        keep = [i for i, p in enumerate(ser.pupils) if in_window(p.updated_at, window)]
        ids, items = [ids[i] for i in keep], [items[i] for i in keep]
    return page(request, ids, items, fault)


async def student(request: Request) -> Response:
    got = await guard(request, "students")
    if isinstance(got, Response):
        return got
    school, _ = got
    ser = serialised(school)
    index = bisect_right(ser.ids, request.path_params["student_id"]) - 1
    if index < 0 or ser.ids[index] != request.path_params["student_id"]:
        return wonde_error(404, "Student not found")
    return raw_json('{"data":' + ser.student(index, includes_of(request)) + "}")


def group_json(ser: Serialised, g: Group, includes: frozenset[str]) -> str:
    body = ser.groups[g.id][:-1]
    if "year" in includes:
        body += ',"year":' + ser.one(ser.year_group.get(g.year) if g.year else None)
    if "students" in includes:
        members = [
            ser.base[i] + "}"
            for i, p in enumerate(ser.pupils)
            if g.id in (p.reg_id, p.house_id) or (g.kind == "YEAR" and p.year == g.year)
        ]
        body += ',"students":{"data":[' + ",".join(members) + "]}"
    return body + "}"


async def groups(request: Request) -> Response:
    got = await guard(request, "groups")
    if isinstance(got, Response):
        return got
    school, fault = got
    window = time_window(request)
    if isinstance(window, Response):
        return window
    ser = serialised(school)
    kind = request.query_params.get("type", "").upper()
    includes = includes_of(request)
    chosen = sorted(
        (
            g
            for g in school.data.groups.values()
            if g.kind != "TEACHING" and (not kind or g.kind == kind) and in_window(g.updated_at, window)
        ),
        key=lambda g: g.id,
    )
    return page(request, [g.id for g in chosen], [group_json(ser, g, includes) for g in chosen], fault)


async def group(request: Request) -> Response:
    got = await guard(request, "groups")
    if isinstance(got, Response):
        return got
    school, _ = got
    g = school.data.groups.get(request.path_params["group_id"])
    if g is None or g.kind == "TEACHING":
        return wonde_error(404, "Group not found")
    return raw_json('{"data":' + group_json(serialised(school), g, includes_of(request)) + "}")


async def deletions(request: Request) -> Response:
    got = await guard(request, "deletions")
    if isinstance(got, Response):
        return got
    school, fault = got
    window = time_window(request)
    if isinstance(window, Response):
        return window
    kind = request.query_params.get("type", "").lower()
    gone = sorted(
        (g for g in school.data.gone.values() if (not kind or g.kind == kind) and in_window(g.deleted_at, window)),
        key=lambda g: g.id,
    )
    items = [
        dumps(
            {
                "id": g.id,
                "type": g.kind,
                "restored": False,
                "deleted_at": date_obj(g.deleted_at),
                "restored_at": None,
            }
        )
        for g in gone
    ]
    return page(request, [g.id for g in gone], items, fault)


async def school_info(request: Request) -> Response:
    got = await guard(request, "school")
    if isinstance(got, Response):
        return got
    school, _ = got
    return json_response(
        {
            "data": {
                "id": school.ref,
                "name": f"Demo School {school.ref}",
                "establishment_number": None,
                "urn": None,
                "mis": "Demo MIS",
                "timezone": "Europe/London",
                "region": {"code": "GBR", "domain": request.url.netloc},
            }
        }
    )


PREFIX = "/v1.0/schools/{school_ref}"
routes = [
    Route(PREFIX, school_info, methods=["GET"]),
    Route(PREFIX + "/students", students, methods=["GET"]),
    Route(PREFIX + "/students/{student_id}", student, methods=["GET"]),
    Route(PREFIX + "/groups", groups, methods=["GET"]),
    Route(PREFIX + "/groups/{group_id}", group, methods=["GET"]),
    Route(PREFIX + "/deletions", deletions, methods=["GET"]),
]
