"""Tenant and role matrix over every operation of the committed spec (openapi/openapi.json).

The operations come from the spec, so a new endpoint is covered (or fails here for want of a request
body) without editing a list of paths. For every school-scoped operation:

- no token, and bad tokens: 401;
- a viewer key on a mutation (POST/PUT/PATCH/DELETE): 403, even with its own school's real ids;
- school A's coordinator key with school B's real ids (in the path, or in the body or query where an
  operation takes ids there): 404, and B's ids never appear in any answer to A.

Operator operations: a school key 403, no token or a bad token 401. Afterwards neither school has
changed: every read operation of the spec answers school B (and A, after the viewer's attempts) exactly
as before.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from app.demo_mis.server import DemoMisServer
from tests.fixtures.servers import REPO
from tests.security.conftest import Populated, populate

SPEC = json.loads((REPO / "openapi" / "openapi.json").read_text())
MUTATIONS = {"post", "put", "patch", "delete"}
#: Operations without authentication.
PUBLIC = {"healthz", "readyz", "get_metrics"}
#: Streams: never read for a snapshot (they are still walked for 401/404).
STREAMS = {"stream_sync_job_events"}
BAD_TOKENS = (
    {"Authorization": "Bearer msk_not-a-real-key-0123456789abcdef"},
    {"Authorization": "Bearer some-random-token"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer "},
)

Ids = dict[str, str]


@dataclass(frozen=True)
class Call:
    """A request for one operation, made from a school's ids."""

    body: Callable[[Ids], Any] | None = None
    query: Callable[[Ids], dict[str, str]] | None = None
    #: The answer to school A's coordinator when the request carries B's ids only in body or query:
    #: 404 (the id names nothing A can see) or an ordinary answer that must not reveal B.
    cross: int | None = None


def _pupil_selection(ids: Ids) -> dict[str, Any]:
    return {"pupil_ids": [ids["pupil_id"]]}


#: A valid request for every operation of the spec (by operationId). Path parameters come from the ids.
CALLS: dict[str, Call] = {
    "healthz": Call(),
    "readyz": Call(),
    "get_metrics": Call(),
    "admin_create_school": Call(body=lambda ids: {"name": "Matrix school"}),
    "admin_update_school": Call(body=lambda ids: {"name": "Renamed by a school key"}),
    "admin_create_api_key": Call(body=lambda ids: {"role": "coordinator"}),
    "admin_run_retention": Call(body=lambda ids: {}),
    "get_school": Call(),
    "get_schedule": Call(),
    "put_schedule": Call(body=lambda ids: {"sync_time": "03:30", "timezone": "Europe/London"}),
    "create_sync_job": Call(body=lambda ids: {"kind": "registration_groups"}),
    "list_sync_jobs": Call(),
    "get_sync_job": Call(),
    "cancel_sync_job": Call(),
    "list_sync_job_items": Call(),
    "apply_sync_job": Call(body=lambda ids: {"select": "all", "include": [ids["item_id"]]}),
    "stream_sync_job_events": Call(),
    "list_classes": Call(),
    "create_class": Call(body=lambda ids: {"name": "Matrix class"}),
    "get_class": Call(),
    "update_class": Call(body=lambda ids: {"name": "Renamed"}),
    "delete_class": Call(),
    "list_class_pupils": Call(),
    "add_class_pupils": Call(body=_pupil_selection),
    "remove_class_pupil": Call(),
    "list_pupils": Call(query=lambda ids: {"class_id": ids["class_id"]}, cross=200),
    "create_pupil": Call(body=lambda ids: {"forename": "M", "surname": "X", "class_ids": [ids["class_id"]]}, cross=404),
    "grant_access": Call(body=_pupil_selection, cross=404),
    "revoke_access": Call(body=_pupil_selection, cross=404),
    "get_pupil": Call(),
    "update_pupil": Call(body=lambda ids: {"forename": "Renamed"}),
    "delete_pupil": Call(query=lambda ids: {"immediate": "true"}),
    "restore_pupil": Call(),
    "tidy_leavers": Call(body=lambda ids: {"dry_run": False}),
    "list_registration_groups": Call(),
    "list_class_mappings": Call(),
    "update_class_mappings": Call(
        body=lambda ids: {
            "mappings": [{"mis_group_id": ids["mis_group_id"], "class_id": ids["class_id"], "set_up": True}]
        },
        cross=404,
    ),
    "list_audit_events": Call(query=lambda ids: {"pupil_id": ids["pupil_id"], "job_id": ids["job_id"]}, cross=200),
    "list_webhooks": Call(),
    "create_webhook": Call(body=lambda ids: {"url": "https://example.com/hook"}),
    "delete_webhook": Call(),
    "list_webhook_deliveries": Call(),
    "redeliver_webhook_delivery": Call(),
    "create_results": Call(
        body=lambda ids: {
            "items": [{"pupil_id": ids["pupil_id"], "suite": "PTE", "taken_on": "2025-02-03", "score": {"sas": 99}}]
        },
        cross=422,  # a batch names its invalid items, an unknown pupil among them
    ),
    "list_pupil_results": Call(),
    "get_class_marksheet": Call(),
    "get_year_group_report": Call(),
    "list_suites": Call(),
    "create_suite": Call(body=lambda ids: {"code": "MATRIX", "name": "Matrix suite"}),
    "get_retention_policy": Call(),
    "update_retention_policy": Call(body=lambda ids: {"suites": [{"suite": "PTE", "retention_years": 5}]}),
    "list_retention_due": Call(),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    path_params: tuple[str, ...]

    @property
    def admin(self) -> bool:
        return self.path.startswith("/v1/admin")

    @property
    def mutation(self) -> bool:
        return self.method in MUTATIONS


def operations() -> list[Operation]:
    out = []
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            params = tuple(p["name"] for p in op.get("parameters", []) if p["in"] == "path")
            out.append(Operation(method, path, op["operationId"], params))
    return out


def _ids(school: Populated) -> Ids:
    return {**school.ids, **school.extra}


def _request(client: httpx.AsyncClient, op: Operation, ids: Ids, headers: dict[str, str]) -> Any:
    call = CALLS[op.operation_id]
    url = op.path.format(**{p: ids[p] for p in op.path_params})
    kwargs: dict[str, Any] = {"headers": headers}
    if call.query is not None:
        kwargs["params"] = call.query(ids)
    if call.body is not None:
        kwargs["json"] = call.body(ids)
    return client.request(op.method.upper(), url, **kwargs)


async def _snapshot(client: httpx.AsyncClient, school: Populated) -> dict[str, Any]:
    """Every read operation of the spec, answered for ``school`` with its own ids."""
    ids = _ids(school)
    out: dict[str, Any] = {}
    for op in operations():
        if op.method != "get" or op.admin or op.operation_id in PUBLIC | STREAMS:
            continue
        url = op.path.format(**{p: ids[p] for p in op.path_params})
        r = await client.get(
            url, params={"limit": 1000} if "limit" in _query_names(op) else None, headers=school.keys.coordinator
        )
        assert r.status_code == 200, (op.operation_id, r.text)
        out[op.operation_id] = r.json()
    return out


def _query_names(op: Operation) -> set[str]:
    raw = SPEC["paths"][op.path][op.method]
    return {p["name"] for p in raw.get("parameters", []) if p["in"] == "query"}


def _masked(text: str, ids: Ids) -> str:
    """``text`` with every id of ``ids`` replaced by its name (to compare answers about other ids)."""
    for name, value in ids.items():
        text = text.replace(value, f"<{name}>")
    return text


def _problem(r: httpx.Response, status: int) -> str | None:
    if r.status_code != status:
        return f"{r.status_code} (wanted {status}): {r.text[:200]}"
    if not r.headers.get("content-type", "").startswith("application/problem+json"):
        return f"content type {r.headers.get('content-type')}"
    return None


async def test_tenant_and_role_matrix(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    receiver: DemoMisServer,
    running_worker: object,
) -> None:
    a = await populate(client, admin_headers, demo_mis, receiver, pupils=8)
    b = await populate(client, admin_headers, demo_mis, receiver, pupils=8)
    ops = operations()
    missing = sorted({op.operation_id for op in ops} - CALLS.keys())
    assert not missing, f"operations without a request in CALLS (add one): {missing}"
    b_ids, a_ids = _ids(b), _ids(a)
    secret_ids = set(b.ids.values()) | {b_ids["item_id"], b_ids["groups_job_id"], b_ids["manual_pupil_id"]}
    before_b = await _snapshot(client, b)
    before_a = await _snapshot(client, a)
    failures: list[str] = []

    def expect(op: Operation, who: str, r: httpx.Response, status: int) -> None:
        if (why := _problem(r, status)) is not None:
            failures.append(f"{op.method.upper()} {op.path} [{who}]: {why}")

    school_ops = [op for op in ops if op.operation_id not in PUBLIC and not op.admin]
    admin_ops = [op for op in ops if op.admin]
    assert school_ops and admin_ops

    # 1. No token, bad tokens: 401 everywhere (school and operator operations).
    for op in school_ops + admin_ops:
        expect(op, "no token", await _request(client, op, b_ids, {}), 401)
        for bad in BAD_TOKENS:
            expect(op, f"bad token {bad['Authorization'][:12]}", await _request(client, op, b_ids, bad), 401)

    # 2. Operator operations with a school key: 403 (coordinator and viewer).
    for op in admin_ops:
        for role, key in (("coordinator", a.keys.coordinator), ("viewer", a.keys.viewer)):
            expect(op, f"school {role} key", await _request(client, op, b_ids, key), 403)

    # 3. A viewer key on every mutation: 403, with its own school's real ids.
    for op in school_ops:
        if op.mutation:
            expect(op, "viewer", await _request(client, op, a_ids, a.keys.viewer), 403)

    assert await _snapshot(client, a) == before_a, "a viewer changed school A"

    # 4. School A's coordinator with school B's ids: 404 (or, for ids in a body or query, the answer
    # an unknown id gets), exactly as for ids that exist nowhere; nothing of B in any answer.
    random_ids = {k: str(uuid.uuid4()) for k in b_ids}
    random_ids["mis_group_id"] = f"no-such-group-{uuid.uuid4().hex}"
    for op in school_ops:
        call = CALLS[op.operation_id]
        carries_ids = bool(op.path_params) or call.cross is not None
        if carries_ids:
            unknown = await _request(client, op, random_ids, a.keys.coordinator)
        r = await _request(client, op, b_ids, a.keys.coordinator)
        label = f"{op.method.upper()} {op.path} [A's key, B's ids]"
        if op.path_params:
            expect(op, "A's key, B's ids", r, 404)
        elif call.cross is not None and r.status_code != call.cross:
            failures.append(f"{label}: {r.status_code} (wanted {call.cross}): {r.text[:200]}")
        elif r.status_code >= 500:
            failures.append(f"{label}: {r.status_code} {r.text[:200]}")
        if op.operation_id in STREAMS:
            continue
        if carries_ids and (
            r.status_code != unknown.status_code or _masked(r.text, b_ids) != _masked(unknown.text, random_ids)
        ):
            failures.append(
                f"{label}: B's ids get another answer than unknown ids: {r.text[:200]} / {unknown.text[:200]}"
            )
        elif not carries_ids and (leaked := [i for i in secret_ids if i in r.text]):
            failures.append(f"{label}: the answer names B's ids {leaked}")

    assert not failures, "\n".join(failures)
    assert await _snapshot(client, b) == before_b, "school B changed"
