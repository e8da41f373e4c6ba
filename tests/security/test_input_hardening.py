"""Hostile input: huge and deep JSON, very long strings, odd Unicode, SQL and header injection.

Every free-text field (body, query and header) gets every payload. Nothing is ever a 5xx: text
PostgreSQL cannot store (NUL, lone surrogates) is a clean 422 naming the field; the rest is stored
and returned verbatim, never executed; header values never split a response.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import SchoolKeys, make_school
from tests.helpers import assert_problem

#: Text PostgreSQL cannot store: must be refused with 422, never reach the database.
UNSTORABLE = {
    "nul": "Ann\u0000e",
    "lone high surrogate": "Ann\ud800e",
    "lone low surrogate": "\udfffAnne",
}
#: Awkward but valid text: must round-trip exactly.
AWKWARD = {
    "sql quote": "O'Brien'); DROP TABLE pupils; --",
    "sql comment": 'Robert"; DELETE FROM classes WHERE 1=1; /*',
    "sql like wildcards": "100%_\\ match",
    "sql union": "x' UNION SELECT key_hash FROM api_keys --",
    "rtl override": "\u202eevil\u202c Name",
    "rtl script": "مريم العربية",
    "emoji": "Zoë 👩🏽\u200d🔬 🏳️\u200d🌈",
    "combining marks": "Ze\u0301lie Zalgo\u0336\u0337\u0338",
    "zero width": "An\u200bna\u200c\u200dX\ufeff",
    "cjk": "山田太郎",
    "crlf": "line1\r\nSet-Cookie: evil=1",
    "html": "<script>alert(1)</script>",
    "template": "{{7*7}} ${jndi:ldap://x} %s %n",
    "backslashes": "C:\\path\\to\\nothing\\",
    "astral": "\U0001d4af\U0001d4bd\U0001f600",
}
LONG = "L" * 1_000_000


@dataclass(frozen=True)
class Field:
    """A free-text field: how to send a value in it, and whether the answer echoes the value back."""

    name: str
    send: Callable[[httpx.AsyncClient, SchoolKeys, dict[str, str], str], Any]
    echoed: Callable[[httpx.Response], str | None] | None = None


def _body(method: str, path: str, make: Callable[[str], dict[str, Any]], admin: bool = False) -> Callable[..., Any]:
    def send_body(client: httpx.AsyncClient, school: SchoolKeys, admin_h: dict[str, str], value: str) -> Any:
        headers = {**(admin_h if admin else school.coordinator), "content-type": "application/json"}
        # ASCII JSON: a lone surrogate travels as its \\u escape, as a hostile client would send it.
        content = json.dumps(make(value), ensure_ascii=True).encode()
        return client.request(method, path.format(school=school.id), content=content, headers=headers)

    return send_body


def _query(path: str, name: str) -> Callable[..., Any]:
    def send(client: httpx.AsyncClient, school: SchoolKeys, admin_h: dict[str, str], value: str) -> Any:
        # Percent-encoded UTF-8 (a lone surrogate becomes bytes that are not UTF-8 at all).
        raw = quote(value.encode("utf-8", "surrogatepass"), safe="")
        return client.get(f"{path}?{name}={raw}", headers=school.coordinator)

    return send


def _key(key: str) -> Callable[[httpx.Response], str | None]:
    return lambda r: r.json().get(key) if r.status_code < 300 else None


PUPIL = {"forename": "A", "surname": "B"}
FIELDS = [
    *(
        Field(f"pupil {f}", _body("POST", "/v1/pupils", lambda v, f=f: {**PUPIL, f: v}), _key(f))  # type: ignore[misc]
        for f in ("forename", "surname", "legal_forename", "legal_surname")
    ),
    Field("pupil gender", _body("POST", "/v1/pupils", lambda v: {**PUPIL, "gender": v}), None),
    Field("class name", _body("POST", "/v1/classes", lambda v: {"name": v}), _key("name")),
    Field("school name", _body("POST", "/v1/admin/schools", lambda v: {"name": v}, admin=True), _key("name")),
    Field(
        "api key label",
        _body("POST", "/v1/admin/schools/{school}/api-keys", lambda v: {"role": "viewer", "label": v}, admin=True),
        _key("label"),
    ),
    Field("suite name", _body("POST", "/v1/suites", lambda v: {"code": "X1", "name": v}), None),
    Field("suite code", _body("POST", "/v1/suites", lambda v: {"code": v}), None),
    Field("tidy class name", _body("POST", "/v1/leavers/tidy", lambda v: {"dry_run": True, "class_name": v}), None),
    Field("webhook url", _body("POST", "/v1/webhooks", lambda v: {"url": f"https://example.com/{v}"}), None),
    Field(
        "mis school ref",
        _body(
            "POST",
            "/v1/admin/schools",
            lambda v: {
                "name": "S",
                "mis": {
                    "provider": "wonde",
                    "base_url": "https://api.example.com/v1.0",
                    "school_ref": v,
                    "credentials": {"token": v},
                },
            },
            admin=True,
        ),
        None,
    ),
    Field(
        "mis group id",
        _body("PUT", "/v1/class-mappings", lambda v: {"mappings": [{"mis_group_id": v, "set_up": True}]}),
        None,
    ),
    Field("sync year group", _body("POST", "/v1/sync-jobs", lambda v: {"kind": "pupils", "year_groups": [v]}), None),
    Field("pupils q", _query("/v1/pupils", "q"), None),
    Field("pupils year_group", _query("/v1/pupils", "year_group"), None),
    Field("pupils cursor", _query("/v1/pupils", "cursor"), None),
    Field("audit action", _query("/v1/audit-events", "action"), None),
    Field("marksheet suite", _query("/v1/reports/year-groups", "suite"), None),
]


@pytest.fixture
async def hostile_school(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> SchoolKeys:
    return await make_school(client, admin_headers)


async def _roster(client: httpx.AsyncClient, school: SchoolKeys) -> Any:
    pupils = (await client.get("/v1/pupils", params={"limit": 1000}, headers=school.coordinator)).json()
    classes = (await client.get("/v1/classes", headers=school.coordinator)).json()
    return pupils, classes


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
async def test_every_free_text_field_takes_every_payload(
    field: Field, client: httpx.AsyncClient, admin_headers: dict[str, str], hostile_school: SchoolKeys
) -> None:
    failures = []
    in_body = field.send.__name__ == "send_body"
    for label, value in UNSTORABLE.items():
        before = await _roster(client, hostile_school)
        r = await field.send(client, hostile_school, admin_headers, value)
        if in_body or label == "nul":
            # A query's NUL may also be a 400 (a cursor this service never made).
            wanted = {422} if in_body else {400, 422}
            if r.status_code not in wanted or not r.headers["content-type"].startswith("application/problem+json"):
                failures.append(f"{label}: {r.status_code} {r.text[:200]}")
        elif r.status_code >= 500:  # bytes that are not UTF-8 in a query decode to U+FFFD: a plain search
            failures.append(f"{label}: {r.status_code} {r.text[:200]}")
        if await _roster(client, hostile_school) != before:
            failures.append(f"{label}: refused input changed the roster")
    # A query string travels in the URL, which clients and servers cap near 64 KiB.
    long = LONG if in_body else LONG[:60_000]
    for label, value in {**AWKWARD, "very long": long}.items():
        r = await field.send(client, hostile_school, admin_headers, value)
        if r.status_code >= 500:
            failures.append(f"{label}: {r.status_code} {r.text[:200]}")
        elif label == "very long" and in_body:  # every body text field has a maximum length
            if r.status_code != 422 or not r.headers["content-type"].startswith("application/problem+json"):
                failures.append(f"{label}: {r.status_code} {r.text[:200]}")
        elif field.echoed is not None and r.status_code < 300 and field.echoed(r) != value:
            failures.append(f"{label}: stored {field.echoed(r)!r}, sent {value!r}")
    assert not failures, "\n".join(failures)


async def test_awkward_names_round_trip_exactly(client: httpx.AsyncClient, hostile_school: SchoolKeys) -> None:
    h = hostile_school.coordinator
    created = []
    for label, value in AWKWARD.items():
        body = {"forename": value, "surname": f"{value} {label}", "legal_forename": value, "legal_surname": value}
        r = await client.post("/v1/pupils", json=body, headers=h)
        assert r.status_code == 201, (label, r.text)
        got = (await client.get(f"/v1/pupils/{r.json()['id']}", headers=h)).json()
        assert {k: got[k] for k in body} == body, label
        patched = await client.patch(f"/v1/pupils/{got['id']}", json={"forename": value[::-1]}, headers=h)
        assert patched.status_code == 200 and patched.json()["forename"] == value[::-1], label
        created.append(got["id"])
    listed = (await client.get("/v1/pupils", params={"limit": 1000}, headers=h)).json()
    assert listed["total"] == len(AWKWARD)  # nothing executed: no row lost, none added
    for label, value in AWKWARD.items():
        r = await client.get("/v1/pupils", params={"q": value}, headers=h)
        assert r.status_code == 200, (label, r.text)
    dropped = await client.get("/v1/pupils", params={"q": "DROP TABLE pupils"}, headers=h)
    assert dropped.json()["total"] == 1  # the text is data: found, not run
    # Classes named with SQL and Unicode, and their lists, survive too.
    for label, value in AWKWARD.items():
        r = await client.post("/v1/classes", json={"name": value}, headers=h)
        assert r.status_code == 201 and r.json()["name"] == value, (label, r.text)


def _nested(depth: int, open_: str, close: str, inner: str = "1") -> bytes:
    return (open_ * depth + inner + close * depth).encode()


@pytest.mark.parametrize(
    "body",
    [
        _nested(100_000, "[", "]"),
        _nested(100_000, '{"a":', "}"),
        b'{"forename": ' + _nested(50_000, "[", "]") + b', "surname": "x"}',
        b'{"items": [{"pupil_id": "00000000-0000-0000-0000-000000000000", "suite": "PTE", '
        b'"taken_on": "2025-01-01", "score": ' + _nested(50_000, '{"a":', "}") + b"}]}",
        b'{"forename": "' + b"x" * 1_000_000 + b'", "surname": "y"}',
        b"[" + b"1," * 500_000 + b"1]",
        b'{"forename": "a", "surname": "b", ' + b",".join(b'"k%d": 1' % i for i in range(50_000)) + b"}",
    ],
    ids=["deep array", "deep object", "deep field", "deep score", "1 MB string", "huge array", "many keys"],
)
@pytest.mark.parametrize("path", ["/v1/pupils", "/v1/results", "/v1/classes"])
async def test_deep_or_huge_json_is_refused_cleanly(
    body: bytes, path: str, client: httpx.AsyncClient, hostile_school: SchoolKeys
) -> None:
    h = {**hostile_school.coordinator, "content-type": "application/json"}
    r = await client.post(path, content=body, headers=h)
    assert r.status_code in (400, 413, 422), r.text[:300]
    assert_problem(r, r.status_code)
    assert (await client.get("/v1/pupils", headers=hostile_school.coordinator)).json()["total"] == 0


async def test_oversized_bodies_are_413_on_every_mutation(
    client: httpx.AsyncClient, hostile_school: SchoolKeys, app: Any
) -> None:
    limit = app.state.settings.max_body_bytes
    big = b'{"name": "' + b"a" * (limit + 1) + b'"}'
    for path in ("/v1/classes", "/v1/pupils", "/v1/results", "/v1/sync-jobs", "/v1/webhooks", "/v1/admin/schools"):
        r = await client.post(
            path, content=big, headers={**hostile_school.coordinator, "content-type": "application/json"}
        )
        assert_problem(r, 413)

    async def chunks() -> Any:  # no Content-Length: the limit holds for a streamed body too
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536

    r = await client.post("/v1/classes", content=chunks(), headers=hostile_school.coordinator)
    assert_problem(r, 413)


async def test_idempotency_key_and_request_id_headers(client: httpx.AsyncClient, hostile_school: SchoolKeys) -> None:
    h = hostile_school.coordinator
    body = {"kind": "registration_groups"}
    long = await client.post("/v1/sync-jobs", json=body, headers={**h, "Idempotency-Key": "k" * 100_000})
    assert_problem(long, 422)
    for label, value in AWKWARD.items():
        if "\r" in value or "\n" in value:
            continue
        encoded = value.encode()  # headers travel as bytes; non-Latin-1 text arrives as raw UTF-8 bytes
        raw: list[tuple[bytes, bytes]] = [(k.encode(), v.encode()) for k, v in h.items()]
        r = await client.post("/v1/sync-jobs", json=body, headers=[*raw, (b"Idempotency-Key", encoded)])
        assert r.status_code < 500, (label, r.text)
        rid = await client.get("/healthz", headers=[(b"X-Request-ID", encoded)])
        assert rid.status_code == 200
        assert rid.headers["x-request-id"] == value or len(rid.headers["x-request-id"]) == 32
    r = await client.get("/healthz", headers={"X-Request-ID": "r" * 10_000})
    assert len(r.headers["x-request-id"]) == 32  # too long: replaced by a fresh id, not echoed


async def test_crlf_in_headers_never_splits_the_response(app: Any, hostile_school: SchoolKeys) -> None:
    """httpx refuses to send CR/LF in a header, so the ASGI app is called with them directly."""
    sent: list[dict[str, Any]] = []
    token = hostile_school.coordinator["Authorization"].encode()
    for name in (b"x-request-id", b"idempotency-key"):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/sync-jobs",
            "raw_path": b"/v1/sync-jobs",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"misync"),
                (b"authorization", token),
                (b"content-type", b"application/json"),
                (name, b"abc\r\nSet-Cookie: evil=1\r\n\r\n<html>"),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("misync", 80),
            "state": {},
        }

        async def receive(
            messages: list[dict[str, Any]] = [  # noqa: B006 - one fresh list per definition, read once
                {"type": "http.request", "body": json.dumps({"kind": "registration_groups"}).encode()}
            ],
        ) -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 2 and all(m["status"] < 500 for m in starts), starts
    for start in starts:
        for key, value in start["headers"]:
            assert b"\r" not in value and b"\n" not in value, (key, value)
            assert key.lower() != b"set-cookie"
