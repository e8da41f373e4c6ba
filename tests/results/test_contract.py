"""The results and retention paths of API.md are served as written."""

from __future__ import annotations

import json

from app.cli import openapi_document

CONTRACT = {
    ("post", "/v1/results"),
    ("get", "/v1/pupils/{pupil_id}/results"),
    ("get", "/v1/classes/{class_id}/marksheet"),
    ("get", "/v1/retention/policy"),
    ("get", "/v1/retention/due"),
    ("post", "/v1/admin/retention/run"),
}


def test_contract_paths_are_there() -> None:
    paths = json.loads(openapi_document())["paths"]
    assert {(m, p) for p, ops in paths.items() for m in ops} >= CONTRACT
    assert {p["name"] for p in paths["/v1/classes/{class_id}/marksheet"]["get"]["parameters"]} >= {"suite"}
    assert {p["name"] for p in paths["/v1/retention/due"]["get"]["parameters"]} >= {"within_days"}
