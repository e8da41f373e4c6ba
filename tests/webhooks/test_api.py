"""The webhook endpoints: the secret shown once and stored encrypted, validation, roles, tenancy, and
the SSRF guard at creation."""

from __future__ import annotations

import base64
import uuid

import pytest

from app.events import EVENT_TYPES
from tests.conftest import make_school
from tests.helpers import assert_problem
from tests.webhooks.conftest import Own


async def test_create_shows_the_secret_once_and_stores_it_encrypted(own: Own, admin_headers: dict[str, str]) -> None:
    school = await make_school(own.client, admin_headers)
    body = {"url": "https://hooks.example.org/misync", "events": ["sync_job.succeeded", "sync_job.failed"]}
    r = await own.client.post("/v1/webhooks", json=body, headers=school.coordinator)
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert created["url"] == body["url"] and created["events"] == body["events"]
    assert created["status"] == "active" and created["consecutive_failures"] == 0 and created["disabled_at"] is None

    listed = await own.client.get("/v1/webhooks", headers=school.viewer)
    assert listed.status_code == 200
    assert [w["id"] for w in listed.json()["items"]] == [created["id"]]
    assert "secret" not in listed.json()["items"][0] and secret not in listed.text

    stored = await own.scalar("SELECT secret FROM webhooks WHERE id = :id", id=uuid.UUID(created["id"]))
    assert secret not in stored and "whsec_" not in stored
    assert own.cipher.decrypt_json(stored) == secret

    r = await own.client.delete(f"/v1/webhooks/{created['id']}", headers=school.coordinator)
    assert r.status_code == 204
    assert (await own.client.get("/v1/webhooks", headers=school.viewer)).json()["items"] == []
    assert_problem(await own.client.get(f"/v1/webhooks/{created['id']}/deliveries", headers=school.viewer), 404)
    actions = (await own.client.get("/v1/audit-events", headers=school.viewer)).json()["items"]
    assert {"webhook.created", "webhook.deleted"} <= {a["action"] for a in actions}
    assert secret not in str(actions)


async def test_events_default_to_all_and_are_deduplicated(own: Own, admin_headers: dict[str, str]) -> None:
    school = await make_school(own.client, admin_headers)
    r = await own.client.post("/v1/webhooks", json={"url": "http://hooks.example.org/"}, headers=school.coordinator)
    assert r.status_code == 201 and r.json()["events"] == []
    twice = {"url": "http://hooks.example.org/", "events": ["sync_job.held", "sync_job.held"]}
    r = await own.client.post("/v1/webhooks", json=twice, headers=school.coordinator)
    assert r.status_code == 201 and r.json()["events"] == ["sync_job.held"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "ftp://hooks.example.org/x"}, ["body", "url"]),
        ({"url": "hooks.example.org/x"}, ["body", "url"]),
        ({"url": "https:///nohost"}, ["body", "url"]),
        ({"url": "https://hooks.example.org/", "events": ["sync_job.exploded"]}, ["body", "events", 0]),
        ({"url": "https://hooks.example.org/", "secret": "whsec_mine"}, ["body", "secret"]),
        ({}, ["body", "url"]),
    ],
)
async def test_invalid_bodies_are_422(
    own: Own, admin_headers: dict[str, str], body: dict[str, object], loc: list[object]
) -> None:
    school = await make_school(own.client, admin_headers)
    problem = assert_problem(await own.client.post("/v1/webhooks", json=body, headers=school.coordinator), 422)
    assert loc in [e["loc"] for e in problem["errors"]], problem


async def test_the_event_filter_documents_the_known_types(own: Own) -> None:
    schema = (await own.client.get("/openapi.json")).json()["components"]["schemas"]["WebhookCreate"]
    assert schema["properties"]["events"]["items"]["enum"] == list(EVENT_TYPES)


async def test_roles_and_tenancy(own: Own, admin_headers: dict[str, str]) -> None:
    mine = await make_school(own.client, admin_headers)
    other = await make_school(own.client, admin_headers, name="Other School")
    r = await own.client.post("/v1/webhooks", json={"url": "https://hooks.example.org/"}, headers=mine.coordinator)
    hook = r.json()["id"]
    some_delivery = uuid.uuid4()

    assert_problem(await own.client.get("/v1/webhooks"), 401)
    assert_problem(await own.client.get("/v1/webhooks", headers=admin_headers), 403)
    assert_problem(
        await own.client.post("/v1/webhooks", json={"url": "https://hooks.example.org/"}, headers=mine.viewer), 403
    )
    assert_problem(await own.client.delete(f"/v1/webhooks/{hook}", headers=mine.viewer), 403)
    assert_problem(
        await own.client.post(f"/v1/webhooks/{hook}/deliveries/{some_delivery}/redeliver", headers=mine.viewer), 403
    )
    assert (await own.client.get(f"/v1/webhooks/{hook}/deliveries", headers=mine.viewer)).status_code == 200

    # Another school's webhook does not exist for this school.
    assert (await own.client.get("/v1/webhooks", headers=other.coordinator)).json()["items"] == []
    assert_problem(await own.client.delete(f"/v1/webhooks/{hook}", headers=other.coordinator), 404)
    assert_problem(await own.client.get(f"/v1/webhooks/{hook}/deliveries", headers=other.viewer), 404)
    assert_problem(
        await own.client.post(f"/v1/webhooks/{hook}/deliveries/{some_delivery}/redeliver", headers=other.coordinator),
        404,
    )
    assert_problem(
        await own.client.post(f"/v1/webhooks/{hook}/deliveries/{some_delivery}/redeliver", headers=mine.coordinator),
        404,
    )
    assert_problem(await own.client.delete("/v1/webhooks/not-a-uuid", headers=mine.coordinator), 404)
    assert (await own.client.get("/v1/webhooks", headers=mine.viewer)).json()["total"] == 1


async def test_a_school_has_at_most_twenty_webhooks(own: Own, admin_headers: dict[str, str]) -> None:
    school = await make_school(own.client, admin_headers)
    for i in range(20):
        r = await own.client.post(
            "/v1/webhooks", json={"url": f"https://h.example.org/{i}"}, headers=school.coordinator
        )
        assert r.status_code == 201
    r = await own.client.post("/v1/webhooks", json={"url": "https://h.example.org/21"}, headers=school.coordinator)
    assert_problem(r, 409)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("http://10.20.30.40/hook", "10.20.30.40 is a private address"),
        ("http://192.168.1.10/hook", "private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://169.254.10.10/", "link-local address"),
        ("http://localhost:9000/hook", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://[::ffff:10.0.0.1]/hook", "private address embedded in IPv6"),
        ("http://[fd00:ec2::254]/", "cloud metadata address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal is a cloud metadata host"),
        ("http://0.0.0.0:8000/", "unspecified address"),
        ("http://224.0.0.1/", "multicast address"),
        ("http://100.64.0.1/", "non-public address"),
        ("http://does-not-exist.invalid/hook", "does not resolve"),
    ],
)
async def test_the_ssrf_guard_refuses_non_public_urls(
    own: Own, admin_headers: dict[str, str], url: str, reason: str
) -> None:
    school = await make_school(own.strict_client, admin_headers)
    r = await own.strict_client.post("/v1/webhooks", json={"url": url}, headers=school.coordinator)
    problem = assert_problem(r, 422)
    assert reason in problem["detail"], problem
    assert problem["errors"][0]["loc"] == ["body", "url"] and "SSRF" in problem["errors"][0]["msg"]
    assert (await own.strict_client.get("/v1/webhooks", headers=school.viewer)).json()["items"] == []


async def test_the_ssrf_guard_lets_public_addresses_through(own: Own, admin_headers: dict[str, str]) -> None:
    school = await make_school(own.strict_client, admin_headers)
    for url in ("https://93.184.215.14/hook", "http://[2606:4700:4700::1111]:8443/x"):
        r = await own.strict_client.post("/v1/webhooks", json={"url": url}, headers=school.coordinator)
        assert r.status_code == 201, r.text


async def test_cursor_from_elsewhere_is_400(own: Own, admin_headers: dict[str, str]) -> None:
    school = await make_school(own.client, admin_headers)
    hook = await own.client.post("/v1/webhooks", json={"url": "https://h.example.org/"}, headers=school.coordinator)
    url = f"/v1/webhooks/{hook.json()['id']}/deliveries"
    assert_problem(await own.client.get(url, params={"cursor": "garbage"}, headers=school.viewer), 400)
