"""Schemathesis over the whole committed spec (openapi/openapi.json), in-process over ASGI, with valid keys.

Every operation gets a bounded, seeded set of generated requests (valid and invalid data). Each answer
must not be a 5xx and must conform to the spec: a declared status code, a declared content type, and a
body that matches the declared schema (problem+json included).

Path ids are mostly the real ids of a populated school (so the handlers run past the 404), and
sometimes the generated random UUIDs. Requests go with the school's coordinator key, or the operator
token for ``/v1/admin``. Admin operations on a school work on a school of their own, so random
changes to it (a new MIS connection, say) never disturb the populated one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as st_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import Settings
from app.demo_mis.server import DemoMisServer
from app.main import create_app
from tests.conftest import make_school, wonde_connection
from tests.fixtures.servers import REPO
from tests.security.conftest import Populated, populate

SEED = 20261129
MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

config = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"mode": "all"},
        # The coverage phase alone sends hundreds of boundary requests per operation; fuzzing with a
        # fixed budget keeps the run bounded.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_path(REPO / "openapi" / "openapi.json", config=config)


@dataclass
class Target:
    app: FastAPI
    school: Populated
    #: Sync jobs are submitted in a school of their own, so they never supersede the populated plan.
    jobs_school: dict[str, str]
    admin_school_id: str
    admin: dict[str, str]


@pytest.fixture(scope="module")
async def target(
    settings: Settings,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    receiver: DemoMisServer,
    running_worker: object,
) -> AsyncIterator[Target]:
    school = await populate(client, admin_headers, demo_mis, receiver)
    jobs_school = await make_school(client, admin_headers, mis=wonde_connection(demo_mis, "schemathesis-jobs"))
    admin_school = await make_school(client, admin_headers, name="Schemathesis admin target")
    # Schemathesis runs the app (and its lifespan) on an event loop of its own, in a thread.
    app = create_app(settings)
    yield Target(
        app=app,
        school=school,
        jobs_school=jobs_school.coordinator,
        admin_school_id=admin_school.id,
        admin=admin_headers,
    )
    st_asgi.shutdown_lifespans()


@pytest.fixture
async def ids(client: httpx.AsyncClient, target: Target, receiver: DemoMisServer) -> AsyncIterator[dict[str, str]]:
    """Real ids for one operation: a fresh class with a fresh pupil in it and a fresh webhook (an
    operation may delete them), and the populated school's plan, webhook and delivery."""
    h = target.school.keys.coordinator
    klass = await client.post("/v1/classes", json={"name": f"Fresh {uuid.uuid4().hex[:8]}"}, headers=h)
    assert klass.status_code == 201, klass.text
    pupil = await client.post(
        "/v1/pupils",
        json={
            "forename": "Fresh",
            "surname": "Pupil",
            "date_of_birth": "2014-05-06",
            "class_ids": [klass.json()["id"]],
        },
        headers=h,
    )
    assert pupil.status_code == 201, pupil.text
    hook = await client.post("/v1/webhooks", json={"url": f"{receiver.url}/hook"}, headers=h)
    assert hook.status_code == 201, hook.text
    yield {
        **target.school.ids,
        "class_id": klass.json()["id"],
        "pupil_id": pupil.json()["id"],
        "fresh_webhook_id": hook.json()["id"],
        "item_id": target.school.extra["item_id"],
        "school_id": target.admin_school_id,
    }
    await client.delete(f"/v1/webhooks/{hook.json()['id']}", headers=h)  # a school has at most 20


def _real(generated: object) -> bool:
    # Three in four ids are swapped for real ones (decided by the generated UUID, so reruns do the same).
    return not str(generated).startswith(("c", "d", "e", "f"))


#: Body fields holding ids, and the real id each gets.
_BODY_IDS = {
    "pupil_id": "pupil_id",
    "pupil_ids": "pupil_id",
    "class_id": "class_id",
    "class_ids": "class_id",
    "include": "item_id",
    "exclude": "item_id",
}


def _realise(value: Any, ids: dict[str, str], key: str | None = None) -> Any:
    """``value`` with most generated ids in id fields replaced by real ones."""
    if isinstance(value, dict):
        out = {k: _realise(v, ids, k) for k, v in value.items()}
        if key == "decisions":
            return {(ids["item_id"] if _real(k) else k): v for k, v in out.items()}
        return out
    if isinstance(value, list):
        return [_realise(v, ids, key) for v in value]
    if isinstance(value, str) and key in _BODY_IDS and _real(value):
        return ids[_BODY_IDS[key]]
    return value


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms_to_its_spec(case: schemathesis.Case[Any], target: Target, ids: dict[str, str]) -> None:
    own_ids = dict(ids)
    if case.operation.definition.raw.get("operationId") == "cancel_sync_job":
        own_ids["job_id"] = target.school.extra["groups_job_id"]  # leave the plan to apply_sync_job
    if case.path == "/v1/webhooks/{webhook_id}":
        own_ids["webhook_id"] = ids["fresh_webhook_id"]  # deleting it leaves the delivery's webhook
    for name, value in (case.path_parameters or {}).items():
        if name in own_ids and _real(value):
            case.path_parameters[name] = own_ids[name]
    if isinstance(case.body, dict | list):
        case.body = _realise(case.body, own_ids)
    if case.path.startswith("/v1/admin"):
        headers = target.admin
    elif case.path == "/v1/sync-jobs" and case.method.upper() == "POST":
        headers = target.jobs_school
    else:
        headers = target.school.keys.coordinator
    case.call_and_validate(app=target.app, headers=headers, checks=CHECKS)
