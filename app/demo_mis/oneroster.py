"""OneRoster 1.2 rostering wire shape: ``/ims/oneroster/rostering/v1p2/...``.

Auth: OAuth 2 client credentials. ``POST /oauth/token`` with ``grant_type=client_credentials``
(form-encoded) and the client id/secret as HTTP Basic or as ``client_id``/``client_secret``
form fields; answers ``{"access_token", "token_type": "bearer", "expires_in": 3600, "scope"}``.
Rostering paths need ``Authorization: Bearer <access_token>``: 401 for a missing, unknown or
expired one (``POST /_demo/oauth/expire`` expires every issued token).

Endpoints (``{ref}`` is the school's org ``sourcedId``):

* ``GET schools/{ref}``: ``{"org": {...}}``.
* ``GET schools/{ref}/classes``: ``{"classes": [...]}``: ``homeroom`` classes (registration
  groups, ``title`` "7A") and ``scheduled`` maths sets; ``grades`` like ``["07"]`` (N1 "PR",
  N2 "PK", R "KG", Year n "0n"/"1n").
* ``GET schools/{ref}/students``: ``{"users": [...]}``: ``givenName``/``familyName`` are the
  legal names, ``preferredFirstName``/``preferredLastName`` present when they differ;
  ``userIds`` holds ``{"type": "UPN", ...}`` (type spelt "upn"/"Upn" for some) and
  ``{"type": "MISID", ...}``; ``roles`` ``[{"roleType": "primary", "role": "student", "org"}]``.
* ``GET schools/{ref}/enrollments``: ``{"enrollments": [...]}``: students (``role``
  ``student``) in homerooms and sets, plus one ``teacher`` per homeroom.
* ``GET demographics`` and ``GET demographics/{sourcedId}``: ``birthDate`` (YYYY-MM-DD, absent
  when unknown) and ``sex``. The list spans every loaded school; it answers 403 when any
  loaded school is ``denied`` and 404 when any is ``per_user``; ``demographics/{id}`` answers 403
  for a ``denied`` school. A token without the demographics scope gets 403 too.

Leavers, ended memberships and deleted classes stay listed with ``status: "tobedeleted"``.
Lists honour ``limit`` (default 100, clamped to 1..1000), ``offset``, ``sort`` + ``orderBy``
(``asc``|``desc``; ties and the default order by ``sourcedId``), ``filter`` (see
:mod:`app.demo_mis.orfilter`; a bad one is 400 with ``invalid_filter_field``) and set
``X-Total-Count`` and a ``Link`` header (``next``, ``last``). Errors use the 1.2 status payload
``{"imsx_codeMajor": "failure", "imsx_severity": "error", "imsx_description", "imsx_CodeMinor":
{"imsx_codeMinorField": [{"imsx_codeMinorFieldName": "TargetEndSystem",
"imsx_codeMinorFieldValue": "unauthorisedrequest" | "forbidden" | "unknownobject" |
"server_busy" | "invalid_filter_field" | "invalid_sort_field" | "invaliddata" | ...}]}}``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.demo_mis import orfilter
from app.demo_mis.data import GRADE, YEAR_NAME, Group, Pupil
from app.demo_mis.faults import Fault
from app.demo_mis.responses import (
    basic_credentials,
    bearer,
    demo,
    dumps,
    early_fault,
    json_response,
    malformed,
    raw_json,
)
from app.demo_mis.school import School
from app.demo_mis.state import SCOPE_DEMOGRAPHICS, TOKEN_TTL, DemoState

PROVIDER = "oneroster"
P = "/ims/oneroster/rostering/v1p2"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_MINOR = {
    400: "invalid_filter_field",
    401: "unauthorisedrequest",
    403: "forbidden",
    404: "unknownobject",
    429: "server_busy",
    500: "internal_server_error",
}
COMMON = frozenset({"sourcedId", "status", "dateLastModified", "metadata"})
FIELDS = {
    "users": COMMON
    | {
        "userMasterIdentifier", "username", "userIds", "enabledUser", "givenName", "familyName",
        "middleName", "preferredFirstName", "preferredMiddleName", "preferredLastName", "pronouns",
        "roles", "userProfiles", "primaryOrg", "identifier", "email", "sms", "phone", "agents",
        "grades", "password", "resources",
    },
    "classes": COMMON
    | {
        "title", "classCode", "classType", "location", "grades", "subjects", "course", "school",
        "terms", "subjectCodes", "periods", "resources",
    },
    "enrollments": COMMON | {"user", "class", "school", "role", "primary", "beginDate", "endDate"},
    "demographics": COMMON
    | {
        "birthDate", "sex", "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity", "countryOfBirthCode", "stateOfBirthAbbreviation",
        "cityOfBirth", "publicSchoolResidenceStatus",
    },
}  # fmt: skip


def or_error(status: int, description: str, minor: str | None = None) -> Response:
    """The OneRoster 1.2 status-info payload."""
    return json_response(
        {
            "imsx_codeMajor": "failure",
            "imsx_severity": "error",
            "imsx_description": description,
            "imsx_CodeMinor": {
                "imsx_codeMinorField": [
                    {
                        "imsx_codeMinorFieldName": "TargetEndSystem",
                        "imsx_codeMinorFieldValue": minor or _MINOR.get(status, "invaliddata"),
                    }
                ]
            },
        },
        status,
    )


def iso(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def ascii_fold(text: str) -> str:
    """ "Zoë O'Brien" -> "zoeobrien" (for usernames)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


# -- records ----------------------------------------------------------------------------------


class Builder:
    """Builds one school's OneRoster records (dicts) with absolute ``href``s under ``base``."""

    def __init__(self, school: School, base: str) -> None:
        self.school = school
        self.d = school.data
        self.root = base + P
        self.org = self.ref("schools", school.ref, "org")
        self.term = self.ref("academicSessions", f"{school.ref}-AY{self.d.academic_year}", "academicSession")

    def ref(self, path: str, sourced_id: str, kind: str) -> dict[str, str]:
        return {"href": f"{self.root}/{path}/{sourced_id}", "sourcedId": sourced_id, "type": kind}

    def user(self, p: Pupil, status: str, when: datetime) -> dict[str, Any]:
        ids: list[dict[str, str]] = []
        if p.upn:
            # Some systems spell the type in other cases: connectors must not rely on "UPN".
            spelling = {"0": "upn", "1": "Upn"}.get(p.id[-1], "UPN")
            ids.append({"type": spelling, "identifier": p.upn})
        ids.append({"type": "MISID", "identifier": p.mis_id})
        user: dict[str, Any] = {
            "sourcedId": p.id,
            "status": status,
            "dateLastModified": iso(when),
            "metadata": {"ukNcYear": p.year, "ukYearGroup": YEAR_NAME[p.year]},
            "username": f"{ascii_fold(p.legal_forename)}.{ascii_fold(p.legal_surname)}{p.mis_id}",
            "userIds": ids,
            "enabledUser": "true" if status == "active" else "false",
            "givenName": p.legal_forename,
            "familyName": p.legal_surname,
        }
        if p.middle_names:
            user["middleName"] = p.middle_names
        if p.forename != p.legal_forename or p.surname != p.legal_surname:
            user["preferredFirstName"] = p.forename
            user["preferredLastName"] = p.surname
        user["roles"] = [{"roleType": "primary", "role": "student", "org": self.org}]
        user["primaryOrg"] = self.org
        user["identifier"] = p.mis_id
        user["grades"] = [GRADE[p.year]]
        return user

    def users(self) -> list[dict[str, Any]]:
        out = [self.user(p, "active", p.updated_at) for p in self.d.pupils.values()]
        out += [self.user(g.pupil, "tobedeleted", g.deleted_at) for g in self.d.gone.values() if g.pupil]
        return out

    def klass(self, g: Group, status: str, when: datetime) -> dict[str, Any]:
        homeroom = g.kind == "REGISTRATION"
        course = f"{self.school.ref}-C-REG" if homeroom else f"{self.school.ref}-C-MA-{g.year}"
        return {
            "sourcedId": g.id,
            "status": status,
            "dateLastModified": iso(when),
            "title": g.name,
            "classCode": g.code,
            "classType": "homeroom" if homeroom else "scheduled",
            "location": f"Room {g.code}",
            "grades": [GRADE[g.year]] if g.year else [],
            "subjects": ["Registration"] if homeroom else ["Mathematics"],
            "course": self.ref("courses", course, "course"),
            "school": self.org,
            "terms": [self.term],
        }

    def classes(self) -> list[dict[str, Any]]:
        kinds = ("REGISTRATION", "TEACHING")
        out = [self.klass(g, "active", g.updated_at) for g in self.d.groups.values() if g.kind in kinds]
        out += [
            self.klass(g.group, "tobedeleted", g.deleted_at)
            for g in self.d.gone.values()
            if g.group is not None and g.group.kind in kinds
        ]
        return out

    def enrollment(self, class_id: str, user_id: str, role: str, status: str, when: datetime) -> dict[str, Any]:
        return {
            "sourcedId": f"E-{class_id}-{user_id}",
            "status": status,
            "dateLastModified": iso(when),
            "user": self.ref("users", user_id, "user"),
            "class": self.ref("classes", class_id, "class"),
            "school": self.org,
            "role": role,
            "primary": "true" if role == "teacher" else "false",
            "beginDate": f"{self.d.academic_year}-09-01",
        }

    def enrollments(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        active: set[tuple[str, str]] = set()
        for p in self.d.pupils.values():
            for class_id in (p.reg_id, *p.teaching_ids):
                active.add((class_id, p.id))
                out.append(self.enrollment(class_id, p.id, "student", "active", p.updated_at))
        for g in self.d.groups.values():
            if g.kind == "REGISTRATION":
                out.append(self.enrollment(g.id, f"T{g.id}", "teacher", "active", g.updated_at))
        latest: dict[tuple[str, str], datetime] = {}
        for e in self.d.ended:
            if (e.class_id, e.user_id) not in active:
                latest[(e.class_id, e.user_id)] = e.ended_at
        out += [self.enrollment(c, u, "student", "tobedeleted", at) for (c, u), at in latest.items()]
        return out

    def demographic(self, p: Pupil, status: str, when: datetime) -> dict[str, Any]:
        record: dict[str, Any] = {"sourcedId": p.id, "status": status, "dateLastModified": iso(when)}
        if p.dob is not None:
            record["birthDate"] = p.dob.isoformat()
        record["sex"] = "female" if p.gender == "F" else "male"
        return record

    def demographics(self) -> list[dict[str, Any]]:
        out = [self.demographic(p, "active", p.updated_at) for p in self.d.pupils.values()]
        out += [self.demographic(g.pupil, "tobedeleted", g.deleted_at) for g in self.d.gone.values() if g.pupil]
        return out


Records = tuple[list[dict[str, Any]], list[str]]


def records(school: School, kind: str, base: str) -> Records:
    """The school's records of ``kind`` in ``sourcedId`` order, with their JSON (cached)."""
    key = ("oneroster", kind, base)
    found = school.cache.get(key)
    if found is None:
        builder = Builder(school, base)
        made: list[dict[str, Any]] = getattr(builder, kind)()
        made.sort(key=lambda r: r["sourcedId"])
        found = school.cache[key] = (made, [dumps(r) for r in made])
    result: Records = found
    return result


# -- listing ----------------------------------------------------------------------------------


def select(request: Request, kind: str, recs: list[dict[str, Any]], cache: dict[Any, Any]) -> list[int] | Response:
    """Indexes of the records that pass ``filter``, in ``sort``/``orderBy`` order (cached)."""
    q = request.query_params
    flt, sort, order = q.get("filter"), q.get("sort"), q.get("orderBy", "asc").lower()
    key = ("oneroster-query", kind, base_of(request), flt, sort, order)
    found = cache.get(key)
    if found is not None:
        chosen: list[int] = found
        return chosen
    if order not in ("asc", "desc"):
        return or_error(400, "orderBy is 'asc' or 'desc'", "invalid_sort_field")
    if sort and sort.split(".")[0] not in FIELDS[kind]:
        return or_error(400, f"unknown sort field {sort!r}", "invalid_sort_field")
    chosen = list(range(len(recs)))
    if flt:
        try:
            test = orfilter.parse(flt, FIELDS[kind])
        except orfilter.FilterError as exc:
            return or_error(400, str(exc), exc.code)
        chosen = [i for i in chosen if test(recs[i])]
    if sort:
        field = sort

        def sort_key(i: int) -> tuple[str, str]:
            value = orfilter.lookup(recs[i], field)
            return ("" if value is None else str(value), recs[i]["sourcedId"])

        chosen.sort(key=sort_key, reverse=order == "desc")
    elif order == "desc":
        chosen.reverse()
    cache[key] = chosen
    return chosen


def listing(request: Request, kind: str, recs: Records, fault: Fault | None, cache: dict[Any, Any]) -> Response:
    """One page of a OneRoster collection, with ``X-Total-Count`` and ``Link``."""
    q = request.query_params
    try:
        limit = min(MAX_LIMIT, max(1, int(q.get("limit", DEFAULT_LIMIT))))
        offset = int(q.get("offset", "0"))
        if offset < 0:
            raise ValueError
    except ValueError:
        return or_error(400, "limit and offset are non-negative integers", "invaliddata")
    chosen = select(request, kind, recs[0], cache)
    if isinstance(chosen, Response):
        return chosen
    jsons = recs[1]
    total = len(chosen)
    visible = chosen
    mode = fault.mode if fault is not None else None
    if mode == "truncated" and total:
        visible = chosen[: total - max(1, total // 10)]
    part = [jsons[i] for i in visible[offset : offset + limit]]
    if mode == "empty":
        part, total = [], 0
    elif mode == "duplicate_ids" and part:
        dup = jsons[chosen[offset - 1]] if offset > 0 else part[0]
        part = [*part[:-1], dup] if len(part) > 1 or offset > 0 else [*part, dup]
    elif mode == "malformed_record" and part:
        part = [malformed(part[0], "sourcedId"), *part[1:]]
    if mode == "no_envelope":
        return raw_json("[" + ",".join(part) + "]")
    links = []
    if offset + limit < total:
        links.append(f'<{request.url.include_query_params(offset=offset + limit, limit=limit)}>; rel="next"')
    last = max(0, (total - 1) // limit * limit)
    links.append(f'<{request.url.include_query_params(offset=last, limit=limit)}>; rel="last"')
    headers = {"X-Total-Count": str(total), "Link": ", ".join(links)}
    body = '{"' + ("users" if kind == "users" else kind) + '":[' + ",".join(part) + "]}"
    return raw_json(body, headers=headers)


# -- handlers ---------------------------------------------------------------------------------


def base_of(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def authorised(request: Request, endpoint: str, ref: str) -> tuple[DemoState, Fault | None] | Response:
    """Bearer check, then faults for ``ref`` (``"*"`` for paths that span schools)."""
    state = demo(request)
    token = bearer(request)
    info = state.check_token(token) if token else None
    if info is None:
        return or_error(401, "missing, unknown or expired access token")
    if endpoint == "demographics" and SCOPE_DEMOGRAPHICS not in info.scopes:
        return or_error(403, "the token has no demographics scope")
    fault = state.faults.take(ref, PROVIDER, endpoint)
    early = await early_fault(fault, or_error)
    if early is not None:
        return early
    return state, fault


def school_list(kind: str, endpoint: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        ref = request.path_params["school_ref"]
        got = await authorised(request, endpoint, ref)
        if isinstance(got, Response):
            return got
        state, fault = got
        school = state.school(ref)
        return listing(request, kind, records(school, kind, base_of(request)), fault, school.cache)

    return handler


async def org(request: Request) -> Response:
    ref = request.path_params["school_ref"]
    got = await authorised(request, "school", ref)
    if isinstance(got, Response):
        return got
    state, _ = got
    school = state.school(ref)
    return json_response(
        {
            "org": {
                "sourcedId": school.ref,
                "status": "active",
                "dateLastModified": iso(datetime(2025, 9, 1, tzinfo=UTC)),
                "name": f"Demo School {school.ref}",
                "type": "school",
                "identifier": school.ref,
            }
        }
    )


async def demographics(request: Request) -> Response:
    got = await authorised(request, "demographics", "*")
    if isinstance(got, Response):
        return got
    state, fault = got
    modes = {s.options.oneroster_demographics for s in state.schools.values()}
    if "denied" in modes:
        return or_error(403, "demographics are not shared by this school")
    if "per_user" in modes:
        return or_error(404, "demographics are only available per user: GET demographics/{sourcedId}")
    base = base_of(request)
    loaded = sorted(state.schools.values(), key=lambda s: s.ref)
    key = ("oneroster-demographics", base, tuple((s.ref, s.version) for s in loaded))
    cache: dict[Any, Any] = request.app.state.demographics_cache
    merged = cache.get(key)
    if merged is None:
        cache.clear()  # one merged listing at a time is plenty
        recs: list[dict[str, Any]] = []
        jsons: list[str] = []
        for s in loaded:
            r, j = records(s, "demographics", base)
            recs += r
            jsons += j
        order = sorted(range(len(recs)), key=lambda i: recs[i]["sourcedId"])
        merged = cache[key] = ([recs[i] for i in order], [jsons[i] for i in order], {})
    return listing(request, "demographics", (merged[0], merged[1]), fault, merged[2])


async def demographic(request: Request) -> Response:
    got = await authorised(request, "demographics", "*")
    if isinstance(got, Response):
        return got
    state, _ = got
    sourced_id = request.path_params["sourced_id"]
    school = state.owner_of(sourced_id)
    if school is None:
        return or_error(404, f"no demographics for {sourced_id}")
    if school.options.oneroster_demographics == "denied":
        return or_error(403, "demographics are not shared by this school")
    recs, jsons = records(school, "demographics", base_of(request))
    for rec, text in zip(recs, jsons, strict=True):
        if rec["sourcedId"] == sourced_id:
            return raw_json('{"demographic":' + text + "}")
    return or_error(404, f"no demographics for {sourced_id}")


async def token(request: Request) -> Response:
    """OAuth 2 client credentials (RFC 6749 section 4.4)."""
    state = demo(request)
    fault = state.faults.take("*", PROVIDER, "token")
    early = await early_fault(fault, lambda status, msg: json_response({"error": "server_error"}, status))
    if early is not None:
        if early.status_code in (401, 403):
            return json_response({"error": "invalid_client"}, 401)
        return early
    form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    creds = basic_credentials(request) or (form.get("client_id", ""), form.get("client_secret", ""))
    if creds != (state.client_id, state.client_secret):
        return json_response({"error": "invalid_client"}, 401, headers={"WWW-Authenticate": "Basic"})
    if form.get("grant_type") != "client_credentials":
        return json_response({"error": "unsupported_grant_type"}, 400)
    access, scopes = state.issue_token(form.get("scope"))
    return json_response(
        {"access_token": access, "token_type": "bearer", "expires_in": TOKEN_TTL, "scope": " ".join(sorted(scopes))},
        headers={"Cache-Control": "no-store"},
    )


routes = [
    Route("/oauth/token", token, methods=["POST"]),
    Route(P + "/schools/{school_ref}", org, methods=["GET"]),
    Route(P + "/schools/{school_ref}/classes", school_list("classes", "classes"), methods=["GET"]),
    Route(P + "/schools/{school_ref}/students", school_list("users", "students"), methods=["GET"]),
    Route(P + "/schools/{school_ref}/enrollments", school_list("enrollments", "enrollments"), methods=["GET"]),
    Route(P + "/demographics", demographics, methods=["GET"]),
    Route(P + "/demographics/{sourced_id}", demographic, methods=["GET"]),
]
