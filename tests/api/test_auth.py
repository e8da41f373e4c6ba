"""The 401/403/404 rules of API.md, Conventions."""

from __future__ import annotations

import httpx

from tests.conftest import SchoolKeys, make_school
from tests.helpers import assert_problem


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/pupils"), 401)
    assert "Bearer" in body["detail"]


async def test_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/pupils", headers={"Authorization": "Bearer msk_notakey_xxxxxxxxxxxx"}), 401)
    assert_problem(await client.get("/v1/pupils", headers={"Authorization": "Basic abc"}), 401)


async def test_viewer_reads_but_cannot_write(client: httpx.AsyncClient, school: SchoolKeys) -> None:
    assert (await client.get("/v1/pupils", headers=school.viewer)).status_code == 200
    r = await client.post("/v1/pupils", json={"forename": "A", "surname": "B"}, headers=school.viewer)
    assert_problem(r, 403)
    r = await client.post("/v1/classes", json={"name": "7A"}, headers=school.viewer)
    assert_problem(r, 403)
    listing = await client.get("/v1/pupils", headers=school.coordinator)
    assert listing.json()["total"] == 0


async def test_admin_endpoints_need_the_operator_token(
    client: httpx.AsyncClient, school: SchoolKeys, admin_headers: dict[str, str]
) -> None:
    assert_problem(await client.post("/v1/admin/schools", json={"name": "X"}), 401)
    assert_problem(
        await client.post("/v1/admin/schools", json={"name": "X"}, headers={"Authorization": "Bearer wrong"}), 401
    )
    assert_problem(await client.post("/v1/admin/schools", json={"name": "X"}, headers=school.coordinator), 403)
    # The operator token does not act for a school.
    assert_problem(await client.get("/v1/school", headers=admin_headers), 403)


async def test_another_schools_resources_are_404(
    client: httpx.AsyncClient, school: SchoolKeys, admin_headers: dict[str, str]
) -> None:
    other = await make_school(client, admin_headers, name="Other")
    pupil = (
        await client.post("/v1/pupils", json={"forename": "Ann", "surname": "Lee"}, headers=other.coordinator)
    ).json()
    cls = (await client.post("/v1/classes", json={"name": "5B"}, headers=other.coordinator)).json()
    assert_problem(await client.get(f"/v1/pupils/{pupil['id']}", headers=school.coordinator), 404)
    assert_problem(
        await client.patch(f"/v1/pupils/{pupil['id']}", json={"forename": "X"}, headers=school.coordinator), 404
    )
    assert_problem(await client.get(f"/v1/classes/{cls['id']}", headers=school.coordinator), 404)
    assert_problem(await client.delete(f"/v1/classes/{cls['id']}", headers=school.coordinator), 404)
    mine = (await client.post("/v1/classes", json={"name": "5B"}, headers=school.coordinator)).json()
    r = await client.post(
        f"/v1/classes/{mine['id']}/pupils", json={"pupil_ids": [pupil["id"]]}, headers=school.coordinator
    )
    assert_problem(r, 404)
    # Nothing changed in the other school.
    after = (await client.get(f"/v1/pupils/{pupil['id']}", headers=other.coordinator)).json()
    assert after["forename"] == "Ann" and after["class_ids"] == []
