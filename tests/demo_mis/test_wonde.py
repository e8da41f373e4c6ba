"""Wonde wire shape, pagination and options, through a real uvicorn server."""

from __future__ import annotations

from typing import Any

import httpx

from app.demo_mis.server import DemoMisServer


def fetch_all(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        r = client.get(next_url, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["data"]
        pages += 1
        pagination = body["meta"]["pagination"]
        assert pagination["more"] == (pagination["next"] is not None)
        next_url = pagination["next"]
    return items, pages


def test_requires_the_token(client: httpx.Client, ref: str) -> None:
    assert client.get(f"/v1.0/schools/{ref}/students").status_code == 401
    r = client.get(f"/v1.0/schools/{ref}/students", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert client.get(f"/v1.0/schools/{ref}/students", auth=("demo-wonde-token", "")).status_code == 200


def test_student_shape(client: httpx.Client, ref: str, wonde: dict[str, str]) -> None:
    r = client.get(f"/v1.0/schools/{ref}/students?include=education_details,groups&per_page=5", headers=wonde)
    body = r.json()
    s = body["data"][0]
    for key in ("id", "mis_id", "upi", "forename", "surname", "legal_forename", "legal_surname", "middle_names",
                "gender", "date_of_birth", "created_at", "updated_at"):  # fmt: skip
        assert key in s
    assert set(s["created_at"]) == {"date", "timezone_type", "timezone"}
    assert s["created_at"]["timezone_type"] == 3
    ed = s["education_details"]["data"]
    assert {"upn", "former_upn", "current_nc_year", "admission_date", "leaving_date"} <= set(ed)
    types = {g["type"] for g in s["groups"]["data"]}
    assert types == {"REGISTRATION", "YEAR", "HOUSE"}
    pagination = body["meta"]["pagination"]
    assert pagination["per_page"] == 5 and pagination["more"] is True and pagination["current_page"] == 1
    assert pagination["next"].startswith("http://127.0.0.1:")


def test_pagination_is_complete_and_stable(client: httpx.Client, ref: str, wonde: dict[str, str]) -> None:
    truth = client.get(f"/_demo/schools/{ref}/truth").json()
    expected = sorted(p["id"] for p in truth["pupils"])
    by_cursor, pages = fetch_all(client, f"/v1.0/schools/{ref}/students?cursor=true&per_page=40", wonde)
    assert [s["id"] for s in by_cursor] == expected
    assert pages == -(-len(expected) // 40)
    by_page, _ = fetch_all(client, f"/v1.0/schools/{ref}/students?per_page=200", wonde)
    assert [s["id"] for s in by_page] == expected
    again, _ = fetch_all(client, f"/v1.0/schools/{ref}/students?cursor=true&per_page=40", wonde)
    assert again == by_cursor
    # per_page over Wonde's maximum is clamped to 200; the default is 50.
    r = client.get(f"/v1.0/schools/{ref}/students?per_page=5000", headers=wonde).json()
    assert r["meta"]["pagination"]["per_page"] == 200
    assert client.get(f"/v1.0/schools/{ref}/students", headers=wonde).json()["meta"]["pagination"]["per_page"] == 50


def test_registration_groups(client: httpx.Client, ref: str, wonde: dict[str, str]) -> None:
    groups, _ = fetch_all(client, f"/v1.0/schools/{ref}/groups?type=REGISTRATION&include=year", wonde)
    assert groups and all(g["type"] == "REGISTRATION" for g in groups)
    seven_a = next(g for g in groups if g["name"] == "7A")
    assert seven_a["year"]["data"]["code"] == "7"
    assert "Year 7" in seven_a["description"]
    one = client.get(f"/v1.0/schools/{ref}/groups/{seven_a['id']}?include=students", headers=wonde).json()
    assert one["data"]["students"]["data"]


def test_no_education_details_option(client: httpx.Client, ref: str, wonde: dict[str, str]) -> None:
    url = f"/v1.0/schools/{ref}/students?include=education_details,groups&per_page=3"
    client.put(f"/_demo/schools/{ref}", json={"wonde_education_details": False})
    assert "education_details" not in client.get(url, headers=wonde).json()["data"][0]
    client.put(f"/_demo/schools/{ref}", json={"wonde_missing_include": "null"})
    assert client.get(url, headers=wonde).json()["data"][0]["education_details"] == {"data": None}
    client.put(f"/_demo/schools/{ref}", json={"wonde_missing_include": "empty"})
    assert client.get(url, headers=wonde).json()["data"][0]["education_details"] == {"data": []}


def test_updated_after_and_deletions(client: httpx.Client, ref: str, wonde: dict[str, str]) -> None:
    truth = client.get(f"/_demo/schools/{ref}/truth").json()
    first = truth["pupils"][0]["id"]
    client.patch(f"/_demo/schools/{ref}/pupils/{first}", json={"forename": "Zoë-Renée"})
    changed = client.get(f"/v1.0/schools/{ref}/students?updated_after=2025-10-02 00:00:00", headers=wonde).json()
    assert [s["id"] for s in changed["data"]] == [first]
    assert changed["data"][0]["forename"] == "Zoë-Renée"
    client.delete(f"/_demo/schools/{ref}/pupils/{first}")
    gone, _ = fetch_all(client, f"/v1.0/schools/{ref}/deletions?type=student", wonde)
    assert first in {d["id"] for d in gone}
    assert all(d["type"] == "student" and d["restored"] is False for d in gone)
    assert client.get(f"/v1.0/schools/{ref}/students/{first}", headers=wonde).status_code == 404


def test_uvicorn_server_in_a_with_block() -> None:
    from app.demo_mis.app import create_app

    with DemoMisServer(create_app(default_pupils=10)) as srv, httpx.Client(base_url=srv.url) as c:
        assert c.get("/_demo/health").json() == {"ok": True}
        assert srv.state.school("Z").summary()["pupils"] == 10
