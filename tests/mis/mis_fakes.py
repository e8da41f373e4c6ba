"""Hand-written Wonde and OneRoster servers for httpx.MockTransport, with fault injection.

They serve the published wire shapes (Wonde: ``data`` + ``meta.pagination``, cursor paging;
OneRoster 1.2: named envelopes, ``limit``/``offset``, ``X-Total-Count``, OAuth 2 token
endpoint) from plain lists, so each test states exactly the records and faults it needs.
``faults`` is a queue: each request first takes the next fault (a Response, an exception to
raise, or None for "answer normally") before the normal answer is served.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx

WONDE_BASE = "https://wonde.test/v1.0"
WONDE_TOKEN = "wonde-secret-token"
OR_BASE = "https://or.test/ims/oneroster/rostering/v1p2"
OR_TOKEN_URL = "https://or.test/oauth/token"
OR_CLIENT = {"client_id": "cid", "client_secret": "s3cret-value", "token_url": OR_TOKEN_URL}

Fault = httpx.Response | Exception | None


def wonde_date(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"date": f"{value} 00:00:00.000000", "timezone_type": 3, "timezone": "Europe/London"}


def wonde_student(
    sid: str,
    forename: str = "Ann",
    surname: str = "Lee",
    *,
    legal: tuple[str, str] | None = None,
    dob: str | None = "2012-03-15",
    upn: str | None = "B801200005001",
    nc_year: str | None = "7",
    groups: list[dict[str, Any]] | None = None,
    gender: str | None = "FEMALE",
    education: Any = "default",
) -> dict[str, Any]:
    legal_forename, legal_surname = legal or (forename, surname)
    if education == "default":
        education = {"data": {"upn": upn, "former_upn": None, "current_nc_year": nc_year}}
    record: dict[str, Any] = {
        "id": sid,
        "mis_id": f"m{sid}",
        "upi": f"u{sid}",
        "forename": forename,
        "surname": surname,
        "legal_forename": legal_forename,
        "legal_surname": legal_surname,
        "middle_names": None,
        "gender": gender,
        "date_of_birth": wonde_date(dob),
        "created_at": wonde_date("2020-09-01"),
        "updated_at": wonde_date("2024-09-01"),
        "groups": {"data": groups if groups is not None else [reg("G7A", "7A")]},
    }
    if education is not None:
        record["education_details"] = education
    return record


def reg(gid: str, name: str, gtype: str = "REGISTRATION", **extra: Any) -> dict[str, Any]:
    return {"id": gid, "name": name, "type": gtype, "code": extra.get("code"), **extra}


def page_of(items: list[Any], start: int, size: int) -> tuple[list[Any], int | None]:
    chunk = items[start : start + size]
    nxt = start + size if start + size < len(items) else None
    return chunk, nxt


class FakeWonde:
    """``/schools/{ref}/students`` and ``/groups`` with cursor paging."""

    def __init__(
        self,
        students: list[dict[str, Any]] | None = None,
        groups: list[dict[str, Any]] | None = None,
        *,
        school: str = "S1",
        page_size: int = 2,
        token: str = WONDE_TOKEN,
    ) -> None:
        self.students = students or []
        self.groups = groups or []
        self.school = school
        self.page_size = page_size
        self.token = token
        self.faults: list[Fault] = []
        self.requests: list[httpx.Request] = []
        #: Rewrites a normal body before it is sent: (resource, page index, body) -> body.
        self.tamper: Callable[[str, int, dict[str, Any]], dict[str, Any]] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            if fault is not None:
                return fault
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return httpx.Response(401, json={"error": "unauthenticated"})
        prefix = f"/v1.0/schools/{self.school}/"
        if not request.url.path.startswith(prefix):
            return httpx.Response(404, json={"error": "not found"})
        resource = request.url.path[len(prefix) :]
        items = {"students": self.students, "groups": self.groups}.get(resource)
        if items is None:
            return httpx.Response(404, json={"error": "not found"})
        if resource == "groups" and request.url.params.get("type"):
            items = [g for g in items if g["type"] == request.url.params["type"]]
        cursor = request.url.params.get("cursor", "true")
        start = 0 if cursor == "true" else int(cursor)
        chunk, nxt = page_of(items, start, self.page_size)
        next_url = str(request.url.copy_set_param("cursor", str(nxt))) if nxt is not None else None
        body: dict[str, Any] = {
            "data": chunk,
            "meta": {"pagination": {"next": next_url, "previous": None, "more": nxt is not None, "per_page": 200}},
        }
        if self.tamper:
            body = self.tamper(resource, start // self.page_size, body)
        return httpx.Response(200, json=body)


def or_user(
    uid: str,
    given: str = "Ann",
    family: str = "Lee",
    *,
    preferred: tuple[str, str] | None = None,
    grades: list[str] | None = None,
    upn: str | None = "B801200005001",
    upn_type: str = "UPN",
    metadata: dict[str, Any] | None = None,
    status: str = "active",
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "sourcedId": uid,
        "status": status,
        "dateLastModified": "2025-09-01T07:00:00.000Z",
        "enabledUser": "true",
        "username": f"user{uid}",
        "givenName": given,
        "familyName": family,
        "roles": [{"roleType": "primary", "role": "student", "org": {"sourcedId": "org1", "type": "org"}}],
        "grades": grades if grades is not None else ["07"],
        "userIds": [{"type": upn_type, "identifier": upn}] if upn else [],
    }
    if preferred:
        record["preferredFirstName"], record["preferredLastName"] = preferred
    if metadata is not None:
        record["metadata"] = metadata
    return record


def or_class(cid: str, title: str, *, class_type: str = "homeroom", grades: list[str] | None = None, status="active"):
    return {
        "sourcedId": cid,
        "status": status,
        "dateLastModified": "2025-09-01T07:00:00.000Z",
        "title": title,
        "classType": class_type,
        "grades": grades if grades is not None else [],
        "school": {"sourcedId": "org1", "type": "org"},
    }


def or_enrollment(eid: str, user: str, cls: str, *, role: str = "student", status: str = "active"):
    return {
        "sourcedId": eid,
        "status": status,
        "dateLastModified": "2025-09-01T07:00:00.000Z",
        "role": role,
        "primary": "false",
        "user": {"sourcedId": user, "type": "user", "href": f"/users/{user}"},
        "class": {"sourcedId": cls, "type": "class", "href": f"/classes/{cls}"},
        "school": {"sourcedId": "org1", "type": "org"},
    }


def or_demo(uid: str, birth: str | None = "2012-03-15", sex: str | None = "female", status="active"):
    return {"sourcedId": uid, "status": status, "birthDate": birth, "sex": sex}


class FakeOneRoster:
    """OneRoster 1.2 rostering endpoints plus an OAuth 2 client-credentials token endpoint."""

    def __init__(
        self,
        users: list[dict[str, Any]] | None = None,
        classes: list[dict[str, Any]] | None = None,
        enrollments: list[dict[str, Any]] | None = None,
        demographics: list[dict[str, Any]] | None = None,
        *,
        school: str = "org1",
        demographics_mode: str = "list",  # "list" | "single" | "forbidden"
        expires_in: int = 3600,
    ) -> None:
        self.collections: dict[str, tuple[str, list[dict[str, Any]]]] = {
            f"schools/{school}/students": ("users", users or []),
            f"schools/{school}/classes": ("classes", classes or []),
            f"schools/{school}/enrollments": ("enrollments", enrollments or []),
            "demographics": ("demographics", demographics or []),
        }
        self.demographics_mode = demographics_mode
        self.expires_in = expires_in
        self.faults: list[Fault] = []
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        #: (path, offset, items, headers) -> (items, headers): edits a normal page.
        self.tamper: Callable[[str, int, list[Any], dict[str, str]], tuple[Any, dict[str, str]]] | None = None

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            if fault is not None:
                return fault
        if str(request.url) == OR_TOKEN_URL:
            return self._token(request)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.valid_tokens:
            return httpx.Response(401, json={"imsx_codeMajor": "failure", "imsx_description": "unauthorized"})
        prefix = httpx.URL(OR_BASE).path + "/"
        path = request.url.path[len(prefix) :]
        if path.startswith("demographics/"):
            return self._one_demographic(path.split("/", 1)[1])
        if path == "demographics" and self.demographics_mode != "list":
            status = 404 if self.demographics_mode == "single" else 403
            return httpx.Response(status, json={"imsx_codeMajor": "failure"})
        if path not in self.collections:
            return httpx.Response(404, json={"imsx_codeMajor": "failure"})
        key, items = self.collections[path]
        params = request.url.params
        assert params.get("sort") == "sourcedId" and params.get("orderBy") == "asc"
        limit = int(params.get("limit", "100"))
        offset = int(params.get("offset", "0"))
        items = sorted(items, key=lambda r: r["sourcedId"])
        chunk = items[offset : offset + limit]
        headers = {"X-Total-Count": str(len(items))}
        if self.tamper:
            chunk, headers = self.tamper(path, offset, chunk, headers)
        return httpx.Response(200, json={key: chunk}, headers=headers)

    def _token(self, request: httpx.Request) -> httpx.Response:
        expected = base64.b64encode(f"{OR_CLIENT['client_id']}:{OR_CLIENT['client_secret']}".encode()).decode()
        form = parse_qs(request.content.decode())
        if request.headers.get("authorization") != f"Basic {expected}":
            return httpx.Response(401, json={"error": "invalid_client"})
        if form.get("grant_type") != ["client_credentials"]:
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        self.tokens_issued += 1
        token = f"tok{self.tokens_issued}"
        self.valid_tokens.add(token)
        return httpx.Response(200, json={"access_token": token, "token_type": "bearer", "expires_in": self.expires_in})

    def _one_demographic(self, uid: str) -> httpx.Response:
        if self.demographics_mode == "forbidden":
            return httpx.Response(403, json={"imsx_codeMajor": "failure"})
        for record in self.collections["demographics"][1]:
            if record["sourcedId"] == uid:
                return httpx.Response(200, json={"demographics": record})
        return httpx.Response(404, json={"imsx_codeMajor": "failure"})


class Sleeps:
    """An injectable sleep that records and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def dump(value: Any) -> str:
    return json.dumps(value, default=str)
