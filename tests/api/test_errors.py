"""Every error is RFC 9457 problem+json; bad input changes nothing."""

from __future__ import annotations

import httpx

from tests.conftest import SchoolKeys
from tests.helpers import assert_problem


async def test_unknown_path_and_method(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    assert_problem(await client.get("/v1/nothing-here", headers=school.coordinator), 404)
    assert_problem(await client.put("/v1/pupils", headers=school.coordinator), 405)


async def test_invalid_uuid_in_path_is_404(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    assert_problem(await client.get("/v1/pupils/not-a-uuid", headers=school.coordinator), 404)
    assert_problem(await client.delete("/v1/classes/123", headers=school.coordinator), 404)


async def test_validation_errors_name_the_field(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    r = await client.post(
        "/v1/pupils", json={"forename": "", "surname": 5, "year_group": "Year 99"}, headers=school.coordinator
    )
    body = assert_problem(r, 422)
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "forename") in locs and ("body", "surname") in locs and ("body", "year_group") in locs
    r = await client.post(
        "/v1/pupils", json={"forename": "A", "surname": "B", "colour": "red"}, headers=school.coordinator
    )
    assert_problem(r, 422)
    r = await client.get("/v1/pupils?access=maybe", headers=school.coordinator)
    assert_problem(r, 422)
    r = await client.get("/v1/pupils?limit=0", headers=school.coordinator)
    assert_problem(r, 422)
    assert (await client.get("/v1/pupils", headers=school.coordinator)).json()["total"] == 0


async def test_malformed_json_is_400(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    r = await client.post(
        "/v1/pupils", content=b'{"forename": ', headers={**school.coordinator, "content-type": "application/json"}
    )
    assert_problem(r, 400)


async def test_oversized_body_is_413(client: httpx.AsyncClient, school: SchoolKeys, app) -> None:  # type: ignore[no-untyped-def]
    limit = app.state.settings.max_body_bytes
    big = b'{"forename": "' + b"a" * (limit + 10) + b'", "surname": "x"}'
    r = await client.post("/v1/pupils", content=big, headers={**school.coordinator, "content-type": "application/json"})
    assert_problem(r, 413)
    assert (await client.get("/v1/pupils", headers=school.coordinator)).json()["total"] == 0


async def test_bad_cursor_is_400(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    assert_problem(await client.get("/v1/pupils?cursor=garbage!", headers=school.coordinator), 400)


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
