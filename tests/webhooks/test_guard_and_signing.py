"""The SSRF guard's address rules and the signing scheme, checked against the standardwebhooks package."""

from __future__ import annotations

import base64
import ipaddress
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from app.models.base import utcnow
from app.webhooks import delivery, signing, ssrf
from tests.conftest import make_school
from tests.webhooks.conftest import Own, Receiver
from tests.webhooks.test_delivery import emit, log, register


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.0.1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("100.64.0.1", "a non-public address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.251", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("ff02::1", "a multicast address"),
        ("::ffff:127.0.0.1", "a loopback address embedded in IPv6 (127.0.0.1)"),
        ("::ffff:169.254.169.254", "a cloud metadata address embedded in IPv6 (169.254.169.254)"),
        ("2002:a00:1::1", "a private address embedded in IPv6 (10.0.0.1)"),
        ("64:ff9b::7f00:1", "a loopback address embedded in IPv6 (127.0.0.1)"),
        ("93.184.215.14", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_rules(address: str, refusal: str | None) -> None:
    assert ssrf.address_refusal(ipaddress.ip_address(address)) == refusal


def test_signature_matches_the_standardwebhooks_package() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 32
    assert len({signing.new_secret() for _ in range(50)}) == 50
    body = json.dumps({"type": "sync_job.failed", "timestamp": "2026-01-01T00:00:00Z", "data": {"é": 1}}).encode()
    now = int(datetime.now(UTC).timestamp())
    headers = signing.headers(secret, "msg_1", now, body)
    assert Verifier(secret).verify(body, headers)["data"] == {"é": 1}
    expected = Verifier(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), body.decode())
    assert headers["webhook-signature"] == expected
    assert base64.b64decode(headers["webhook-signature"].removeprefix("v1,")) != b""


async def test_delivery_connects_to_the_address_the_guard_checked(
    own: Own, admin_headers: dict[str, str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host name is resolved once, checked, and connected to by that address (no second lookup to
    rebind), keeping the name in the Host header."""
    school = await make_school(own.client, admin_headers)
    name, _ = receiver.endpoint()
    port = receiver.server.port
    hook = await register(own, school, f"http://hooks.example.test:{port}/hook/{name}")
    checked: list[str] = []

    async def check(url: str) -> ssrf.Target:
        checked.append(url)
        return ssrf.Target(host="hooks.example.test", port=port, address=ipaddress.ip_address("127.0.0.1"))

    monkeypatch.setattr(ssrf, "check", check)
    await emit(own, school)
    await delivery.dispatch(own.session_factory, utcnow())
    await delivery.deliver_due(own.sender(allow_private_urls=False), utcnow())
    [got] = receiver.got(name)
    assert got.headers["host"] == f"hooks.example.test:{port}"
    assert checked == [hook["url"]]
    assert Verifier(hook["secret"]).verify(got.body, got.headers)
    assert (await log(own, school, hook))[0]["status"] == "delivered"


def test_pinning_keeps_the_name_for_tls() -> None:
    target = ssrf.Target(host="hooks.example.org", port=443, address=ipaddress.ip_address("2606:4700::1"))
    url, headers, extensions = delivery._pinned("https://u:p@hooks.example.org/x?y=1", target)
    assert str(url) == "https://u:p@[2606:4700::1]/x?y=1"
    assert headers == {"host": "hooks.example.org"} and extensions == {"sni_hostname": "hooks.example.org"}
