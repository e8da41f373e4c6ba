"""Fault injection, per school and provider, with count/after/always semantics."""

from __future__ import annotations

import httpx
import pytest

from .conftest import P


def arm(client: httpx.Client, ref: str, **body: object) -> None:
    r = client.post(f"/_demo/schools/{ref}/faults", json=body)
    assert r.status_code == 201, r.text


def students(client: httpx.Client, ref: str, headers: dict[str, str], **params: int) -> httpx.Response:
    return client.get(f"/v1.0/schools/{ref}/students", params={"per_page": 10, **params}, headers=headers)


def users(client: httpx.Client, ref: str, headers: dict[str, str], **params: int) -> httpx.Response:
    return client.get(f"{P}/schools/{ref}/students", params={"limit": 10, **params}, headers=headers)


def test_next_two_fail_then_normal(client: httpx.Client, ref: str, wonde: dict[str, str]) -> None:
    arm(client, ref, mode="server_error", count=2)
    assert [students(client, ref, wonde).status_code for _ in range(3)] == [500, 500, 200]
    assert client.get(f"/_demo/schools/{ref}/faults").json()["faults"] == []


def test_always_until_cleared(client: httpx.Client, ref: str, oneroster: dict[str, str]) -> None:
    arm(client, ref, mode="500", provider="oneroster")
    assert [users(client, ref, oneroster).status_code for _ in range(4)] == [500] * 4
    assert client.delete(f"/_demo/schools/{ref}/faults").status_code == 204
    assert users(client, ref, oneroster).status_code == 200


def test_provider_and_endpoint_scoping(client: httpx.Client, ref: str, wonde: dict[str, str],
                                       oneroster: dict[str, str]) -> None:  # fmt: skip
    arm(client, ref, mode="server_error", provider="wonde", endpoint="groups")
    assert students(client, ref, wonde).status_code == 200
    assert users(client, ref, oneroster).status_code == 200
    assert client.get(f"/v1.0/schools/{ref}/groups", headers=wonde).status_code == 500
    counts = client.get(f"/_demo/schools/{ref}/faults").json()["requests"]
    assert counts["wonde:groups"] == 1 and counts["wonde:students"] == 1


def test_after(client: httpx.Client, ref: str, wonde: dict[str, str]) -> None:
    arm(client, ref, mode="server_error", after=1, count=1)
    assert [students(client, ref, wonde).status_code for _ in range(3)] == [200, 500, 200]


def test_rate_limited(client: httpx.Client, ref: str, wonde: dict[str, str], oneroster: dict[str, str]) -> None:
    arm(client, ref, mode="rate_limited", count=1, retry_after=7)
    r = students(client, ref, wonde)
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    arm(client, ref, mode="429", count=1, provider="oneroster")
    r = users(client, ref, oneroster)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert r.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == "server_busy"


@pytest.mark.parametrize(("mode", "status"), [("unauthorized", 401), ("forbidden", 403)])
def test_credentials_rejected(client: httpx.Client, ref: str, wonde: dict[str, str], oneroster: dict[str, str],
                             mode: str, status: int) -> None:  # fmt: skip
    arm(client, ref, mode=mode)
    assert students(client, ref, wonde).status_code == status
    assert users(client, ref, oneroster).status_code == status


def test_token_endpoint_fault(client: httpx.Client) -> None:
    arm(client, "*", mode="unauthorized", count=1, endpoint="token")
    try:
        r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("demo-client", "demo-secret"))
        assert r.status_code == 401
        r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("demo-client", "demo-secret"))
        assert r.status_code == 200
    finally:
        client.delete("/_demo/schools/*/faults")


def test_slow(client: httpx.Client, ref: str, wonde: dict[str, str]) -> None:
    arm(client, ref, mode="slow", delay_ms=300, count=1)
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"/v1.0/schools/{ref}/students", headers=wonde, timeout=0.05)
    assert students(client, ref, wonde).status_code == 200


def test_empty(client: httpx.Client, ref: str, wonde: dict[str, str], oneroster: dict[str, str]) -> None:
    arm(client, ref, mode="empty", count=2)
    body = students(client, ref, wonde).json()
    assert body["data"] == [] and body["meta"]["pagination"]["more"] is False
    r = users(client, ref, oneroster)
    assert r.json() == {"users": []} and r.headers["X-Total-Count"] == "0"


def test_no_envelope(client: httpx.Client, ref: str, wonde: dict[str, str], oneroster: dict[str, str]) -> None:
    arm(client, ref, mode="no_envelope", count=2)
    assert isinstance(students(client, ref, wonde).json(), list)
    assert isinstance(users(client, ref, oneroster).json(), list)


def test_truncated(client: httpx.Client, ref: str, wonde: dict[str, str], oneroster: dict[str, str]) -> None:
    arm(client, ref, mode="truncated", provider="wonde", count=1)
    pagination = students(client, ref, wonde).json()["meta"]["pagination"]
    assert pagination["more"] is True and pagination["next"] is None
    arm(client, ref, mode="truncated", provider="oneroster")
    seen = []
    offset = 0
    while True:
        r = users(client, ref, oneroster, limit=100, offset=offset)
        page = r.json()["users"]
        seen += page
        offset += 100
        if offset >= int(r.headers["X-Total-Count"]):
            break
    assert len(seen) < int(r.headers["X-Total-Count"])


def test_duplicate_ids_across_pages(client: httpx.Client, ref: str, wonde: dict[str, str],
                                    oneroster: dict[str, str]) -> None:  # fmt: skip
    arm(client, ref, mode="duplicate_ids", after=1, count=1, provider="wonde")
    first = students(client, ref, wonde).json()
    second = client.get(first["meta"]["pagination"]["next"], headers=wonde).json()
    ids = [s["id"] for s in first["data"] + second["data"]]
    assert len(ids) == 20 and len(set(ids)) == 19
    arm(client, ref, mode="duplicates", provider="oneroster", after=1, count=1)
    a = users(client, ref, oneroster).json()["users"]
    b = users(client, ref, oneroster, offset=10).json()["users"]
    assert len({u["sourcedId"] for u in a + b}) == 19


def test_malformed_record(client: httpx.Client, ref: str, wonde: dict[str, str], oneroster: dict[str, str]) -> None:
    arm(client, ref, mode="malformed", count=2)
    assert students(client, ref, wonde).json()["data"][0]["id"] is None
    assert users(client, ref, oneroster).json()["users"][0]["sourcedId"] is None


def test_bad_fault_bodies(client: httpx.Client, ref: str) -> None:
    for body in ({"mode": "explode"}, {"mode": "500", "count": 0}, {"mode": "500", "provider": "sims"}):
        assert client.post(f"/_demo/schools/{ref}/faults", json=body).status_code == 400
