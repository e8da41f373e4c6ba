"""The committed openapi/openapi.json is what the app serves; operation ids are stable and unique."""

from __future__ import annotations

import json
from collections import Counter

import httpx

from app.cli import openapi_document
from tests.fixtures.servers import REPO

CONTRACT_PATHS = {
    ("post", "/v1/admin/schools"),
    ("patch", "/v1/admin/schools/{school_id}"),
    ("post", "/v1/admin/schools/{school_id}/api-keys"),
    ("get", "/v1/school"),
    ("post", "/v1/sync-jobs"),
    ("get", "/v1/sync-jobs"),
    ("get", "/v1/sync-jobs/{job_id}"),
    ("post", "/v1/sync-jobs/{job_id}/cancel"),
    ("get", "/v1/classes"),
    ("post", "/v1/classes"),
    ("get", "/v1/classes/{class_id}"),
    ("patch", "/v1/classes/{class_id}"),
    ("delete", "/v1/classes/{class_id}"),
    ("get", "/v1/classes/{class_id}/pupils"),
    ("post", "/v1/classes/{class_id}/pupils"),
    ("delete", "/v1/classes/{class_id}/pupils/{pupil_id}"),
    ("get", "/v1/pupils"),
    ("post", "/v1/pupils"),
    ("get", "/v1/pupils/{pupil_id}"),
    ("patch", "/v1/pupils/{pupil_id}"),
    ("delete", "/v1/pupils/{pupil_id}"),
    ("post", "/v1/admin/retention/run"),
    ("get", "/v1/sync-jobs/{job_id}/items"),
    ("post", "/v1/sync-jobs/{job_id}/apply"),
    ("get", "/v1/sync-jobs/{job_id}/events"),
    ("get", "/v1/mis/registration-groups"),
    ("get", "/v1/class-mappings"),
    ("put", "/v1/class-mappings"),
    ("post", "/v1/pupils/{pupil_id}/restore"),
    ("post", "/v1/pupils/grant-access"),
    ("post", "/v1/pupils/revoke-access"),
    ("post", "/v1/leavers/tidy"),
    ("post", "/v1/results"),
    ("get", "/v1/pupils/{pupil_id}/results"),
    ("get", "/v1/classes/{class_id}/marksheet"),
    ("get", "/v1/retention/policy"),
    ("get", "/v1/retention/due"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks"),
    ("delete", "/v1/webhooks/{webhook_id}"),
    ("get", "/v1/webhooks/{webhook_id}/deliveries"),
    ("post", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"),
}


def test_committed_spec_matches_the_app() -> None:
    committed = (REPO / "openapi" / "openapi.json").read_text()
    assert committed == openapi_document(), "openapi/openapi.json is stale: run `make openapi` and commit it"


async def test_served_spec_matches_and_ids_are_stable(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    committed = json.loads((REPO / "openapi" / "openapi.json").read_text())
    assert served == committed
    ops = [(m, p, op["operationId"]) for p, item in served["paths"].items() for m, op in item.items()]
    assert {(m, p) for m, p, _ in ops} >= CONTRACT_PATHS
    ids = Counter(op_id for *_, op_id in ops)
    assert all(n == 1 for n in ids.values()), ids
    assert all(op_id.isidentifier() and op_id == op_id.lower() for op_id in ids)
    # Every error answer is declared as problem+json.
    for path, item in served["paths"].items():
        for method, op in item.items():
            for status, resp in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in resp.get("content", {}), (method, path, status)
