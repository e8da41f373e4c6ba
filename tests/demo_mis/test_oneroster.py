"""OneRoster 1.2 wire shape, OAuth, pagination, filters and demographics permissions."""

from __future__ import annotations

from typing import Any

import httpx

from app.demo_mis.server import DemoMisServer
from app.demo_mis.state import SCOPE_CORE

from .conftest import P, oneroster_token


def fetch_all(client: httpx.Client, url: str, headers: dict[str, str], key: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        r = client.get(url, params={"limit": limit, "offset": offset}, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()[key]
        items += page
        offset += limit
        if offset >= int(r.headers["X-Total-Count"]):
            return items


def test_token_endpoint(client: httpx.Client) -> None:
    form = {"grant_type": "client_credentials", "client_id": "demo-client", "client_secret": "demo-secret"}
    r = client.post("/oauth/token", data=form)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["access_token"] and body["scope"]
    bad = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("demo-client", "wrong"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    grant = client.post("/oauth/token", data={"grant_type": "password"}, auth=("demo-client", "demo-secret"))
    assert grant.status_code == 400


def test_bearer_required_and_expiry(client: httpx.Client, ref: str) -> None:
    url = f"{P}/schools/{ref}/students"
    assert client.get(url).status_code == 401
    r = client.get(url, headers={"Authorization": "Bearer made-up"})
    assert r.status_code == 401
    assert r.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == "unauthorisedrequest"
    headers = oneroster_token(client)
    assert client.get(url, headers=headers).status_code == 200
    client.post("/_demo/oauth/expire")
    assert client.get(url, headers=headers).status_code == 401


def test_students_shape_and_pagination(client: httpx.Client, ref: str, oneroster: dict[str, str]) -> None:
    truth = client.get(f"/_demo/schools/{ref}/truth").json()
    users = fetch_all(client, f"{P}/schools/{ref}/students", oneroster, "users", 70)
    active = [u for u in users if u["status"] == "active"]
    assert sorted(u["sourcedId"] for u in active) == sorted(p["id"] for p in truth["pupils"])
    assert len({u["sourcedId"] for u in users}) == len(users)
    assert any(u["status"] == "tobedeleted" for u in users)
    u = active[0]
    for key in ("sourcedId", "status", "dateLastModified", "enabledUser", "givenName", "familyName", "roles",
                "grades", "userIds", "identifier", "metadata", "username"):  # fmt: skip
        assert key in u
    assert u["enabledUser"] == "true"
    assert u["roles"][0]["role"] == "student"
    assert u["dateLastModified"].endswith("Z")
    spellings = {i["type"] for x in active for i in x["userIds"] if i["type"].lower() == "upn"}
    assert "UPN" in spellings and len(spellings) > 1
    assert any("preferredFirstName" in x for x in active)
    by_id = {p["id"]: p for p in truth["pupils"]}
    assert all(x["grades"] == [by_id[x["sourcedId"]]["grade"]] for x in active)


def test_classes_and_enrollments(client: httpx.Client, ref: str, oneroster: dict[str, str]) -> None:
    classes = fetch_all(client, f"{P}/schools/{ref}/classes", oneroster, "classes", 1000)
    homerooms = [c for c in classes if c["classType"] == "homeroom" and c["status"] == "active"]
    assert {c["title"] for c in homerooms} >= {"7A", "7B", "RA"}
    assert any(c["classType"] == "scheduled" for c in classes)
    seven_a = next(c for c in homerooms if c["title"] == "7A")
    assert seven_a["grades"] == ["07"]
    enrollments = fetch_all(client, f"{P}/schools/{ref}/enrollments", oneroster, "enrollments", 1000)
    students = [e for e in enrollments if e["role"] == "student" and e["class"]["sourcedId"] == seven_a["sourcedId"]]
    truth = client.get(f"/_demo/schools/{ref}/truth").json()
    expected = {p["id"] for p in truth["pupils"] if p["registration_group_id"] == seven_a["sourcedId"]}
    assert {e["user"]["sourcedId"] for e in students} == expected
    assert any(e["role"] == "teacher" for e in enrollments)
    assert students[0]["class"]["type"] == "class"


def test_filter_sort_and_errors(client: httpx.Client, ref: str, oneroster: dict[str, str]) -> None:
    url = f"{P}/schools/{ref}/students"
    r = client.get(url, params={"filter": "status='tobedeleted'"}, headers=oneroster)
    assert r.status_code == 200 and all(u["status"] == "tobedeleted" for u in r.json()["users"])
    assert int(r.headers["X-Total-Count"]) == len(r.json()["users"]) > 0
    truth = client.get(f"/_demo/schools/{ref}/truth").json()
    pid = truth["pupils"][3]["id"]
    client.patch(f"/_demo/schools/{ref}/pupils/{pid}", json={"surname": "D'Souza"})
    r = client.get(url, params={"filter": "dateLastModified>'2026-01-01T00:00:00Z'"}, headers=oneroster)
    assert [u["sourcedId"] for u in r.json()["users"]] == [pid]
    r = client.get(url, params={"filter": "grades='07' AND status='active'", "limit": 1000}, headers=oneroster)
    assert all(u["grades"] == ["07"] for u in r.json()["users"])
    r = client.get(url, params={"sort": "familyName", "orderBy": "desc", "limit": 1000}, headers=oneroster)
    names = [u["familyName"] for u in r.json()["users"]]
    assert names == sorted(names, reverse=True)
    for bad in ("nosuchfield='x'", "givenName=unquoted", "status='a' AND givenName='b' OR sex='c'"):
        r = client.get(url, params={"filter": bad}, headers=oneroster)
        assert r.status_code == 400, bad
        assert r.json()["imsx_codeMajor"] == "failure"
    assert client.get(url, params={"sort": "nosuch"}, headers=oneroster).status_code == 400


def test_demographics_and_permissions(fresh_server: DemoMisServer) -> None:
    with httpx.Client(base_url=fresh_server.url) as client:
        headers = oneroster_token(client)
        truth = client.get("/_demo/schools/D1/truth").json()
        demo = fetch_all(client, f"{P}/demographics", headers, "demographics", 50)
        by_id = {d["sourcedId"]: d for d in demo}
        for p in truth["pupils"]:
            assert by_id[p["id"]].get("birthDate") == p["date_of_birth"]
            assert by_id[p["id"]]["sex"] in ("male", "female")
        one = client.get(f"{P}/demographics/{truth['pupils'][0]['id']}", headers=headers)
        assert one.status_code == 200 and one.json()["demographic"]["sourcedId"] == truth["pupils"][0]["id"]
        assert client.get(f"{P}/demographics/nobody", headers=headers).status_code == 404
        # A token without the demographics scope.
        core = oneroster_token(client, scope=SCOPE_CORE)
        assert client.get(f"{P}/demographics", headers=core).status_code == 403

        client.put("/_demo/schools/D1", json={"oneroster_demographics": "per_user"})
        assert client.get(f"{P}/demographics", headers=headers).status_code == 404
        assert client.get(f"{P}/demographics/{truth['pupils'][0]['id']}", headers=headers).status_code == 200
        client.put("/_demo/schools/D1", json={"oneroster_demographics": "denied"})
        assert client.get(f"{P}/demographics", headers=headers).status_code == 403
        assert client.get(f"{P}/demographics/{truth['pupils'][0]['id']}", headers=headers).status_code == 403


def test_same_ids_as_wonde(client: httpx.Client, ref: str, oneroster: dict[str, str], wonde: dict[str, str]) -> None:
    w = client.get(f"/v1.0/schools/{ref}/students?per_page=200", headers=wonde).json()["data"]
    o = client.get(f"{P}/schools/{ref}/students", params={"limit": 200}, headers=oneroster).json()["users"]
    assert [s["id"] for s in w][:50] == [u["sourcedId"] for u in o if u["status"] == "active"][:50]
