"""Operator endpoints: schools, MIS credentials encrypted at rest and never returned, API keys."""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import make_school
from tests.fixtures.servers import Servers, plain_dsn
from tests.helpers import assert_problem

WONDE = {
    "provider": "wonde",
    "base_url": "https://api.wonde.example/v1.0",
    "school_ref": "A1930499544",
    "credentials": {"token": "super-secret-wonde-token-value"},
}


async def test_school_with_mis_never_returns_or_stores_credentials_in_clear(
    client: httpx.AsyncClient, admin_headers: dict[str, str], servers: Servers
) -> None:
    keys = await make_school(client, admin_headers, mis=WONDE, name="Hill Primary")
    school = (await client.get("/v1/school", headers=keys.viewer)).json()
    assert school["name"] == "Hill Primary"
    assert school["mis"] == {
        "provider": "wonde",
        "base_url": "https://api.wonde.example/v1.0",
        "school_ref": "A1930499544",
        "has_credentials": True,
        "options": {},
    }
    assert "super-secret" not in str(school)
    conn = await asyncpg.connect(plain_dsn(servers.database_url))
    try:
        row = await conn.fetchrow("SELECT * FROM schools WHERE id = $1", keys.id)
    finally:
        await conn.close()
    assert "super-secret" not in str(dict(row))


async def test_patch_school_and_validation(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    keys = await make_school(client, admin_headers)
    oneroster = {
        "provider": "oneroster",
        "base_url": "https://or.example/ims/oneroster/rostering/v1p2",
        "school_ref": "org-1",
        "credentials": {"client_id": "c", "client_secret": "s", "token_url": "https://or.example/oauth/token"},
        "options": {"grade_map": {"KG": "R"}},
    }
    r = await client.patch(
        f"/v1/admin/schools/{keys.id}", json={"mis": oneroster, "name": "Renamed"}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Renamed" and body["mis"]["options"] == {"grade_map": {"KG": "Reception"}}
    assert "client_secret" not in r.text
    wrong = {**oneroster, "credentials": {"token": "t"}}
    assert_problem(await client.patch(f"/v1/admin/schools/{keys.id}", json={"mis": wrong}, headers=admin_headers), 422)
    assert_problem(
        await client.patch(
            "/v1/admin/schools/00000000-0000-0000-0000-000000000000", json={"name": "x"}, headers=admin_headers
        ),
        404,
    )
    assert_problem(
        await client.post("/v1/admin/schools", json={"name": "x", "mis": {"provider": "sims"}}, headers=admin_headers),
        422,
    )


async def test_api_keys_are_shown_once_and_work(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    keys = await make_school(client, admin_headers)
    r = await client.post(
        f"/v1/admin/schools/{keys.id}/api-keys", json={"role": "viewer", "label": "dashboard"}, headers=admin_headers
    )
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith("msk_") and len(created["key"]) > 40 and created["role"] == "viewer"
    school = await client.get("/v1/school", headers={"Authorization": f"Bearer {created['key']}"})
    assert school.status_code == 200 and school.json()["id"] == keys.id
    assert_problem(
        await client.post(f"/v1/admin/schools/{keys.id}/api-keys", json={"role": "admin"}, headers=admin_headers), 422
    )
