"""Dispatch and delivery, in-process with a controlled clock, against a real receiver on loopback:
signatures (checked with the independent ``standardwebhooks`` package), retries, 410, timeouts,
redirects, redelivery, the SSRF guard at delivery time, and no event for a rolled-back change."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from app import events
from app.models.base import utcnow
from app.webhooks import delivery, repository
from app.webhooks.delivery import RETRY_SCHEDULE, Sender
from tests.conftest import SchoolKeys, make_school
from tests.helpers import assert_problem
from tests.webhooks.conftest import Answer, Own, Receiver

JOB = {"id": "00000000-0000-4000-8000-000000000001", "kind": "pupils", "mode": "apply", "status": "succeeded"}


async def emit(own: Own, school: SchoolKeys, event_type: str = "sync_job.succeeded", **data: Any) -> uuid.UUID:
    """Commit one outbox event, as a state change would."""
    async with own.session_factory() as session:
        event = await events.emit(session, uuid.UUID(school.id), event_type, {**JOB, **data})
        await session.commit()
    return event.id


async def register(own: Own, school: SchoolKeys, url: str, events: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, **({"events": events} if events is not None else {})}
    r = await own.client.post("/v1/webhooks", json=body, headers=school.coordinator)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def log(own: Own, school: SchoolKeys, hook: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    r = await own.client.get(f"/v1/webhooks/{hook['id']}/deliveries", params=params, headers=school.viewer)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def hook_state(own: Own, school: SchoolKeys, hook: dict[str, Any]) -> dict[str, Any]:
    items = (await own.client.get("/v1/webhooks", headers=school.viewer)).json()["items"]
    return next(w for w in items if w["id"] == hook["id"])


async def cycle(sender: Sender, now: datetime) -> None:
    """What one worker tick does, at ``now``."""
    await delivery.dispatch(sender.session_factory, now)
    await delivery.deliver_due(sender, now)


def verify(hook: dict[str, Any], received: Any) -> Any:
    """The body, after checking the signature with the standardwebhooks package."""
    return Verifier(hook["secret"]).verify(received.body, received.headers)


async def test_an_event_is_delivered_signed_and_exactly_as_emitted(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint(Answer(200, body="thanks " + "x" * 3000))
    hook = await register(own, school, url)
    event_id = await emit(own, school, counts={"new": 3, "matched": 1})
    payload = await own.scalar("SELECT payload FROM outbox_events WHERE id = :id", id=event_id)

    await cycle(own.sender(), utcnow())

    [got] = receiver.got(name)
    body = verify(hook, got)
    assert body == payload
    assert body["type"] == "sync_job.succeeded" and body["data"]["counts"] == {"new": 3, "matched": 1}
    assert body["timestamp"].endswith("Z") and body["data"]["id"] == JOB["id"]
    assert got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    assert got.headers["webhook-signature"].startswith("v1,")
    # The body bytes are the ones signed: a changed byte fails verification.
    with pytest.raises(Exception, match="signature"):
        Verifier(hook["secret"]).verify(got.body.replace(b"succeeded", b"succeedeD"), got.headers)

    [entry] = await log(own, school, hook)
    assert entry["event_id"] == str(event_id) and entry["event_type"] == "sync_job.succeeded"
    assert entry["message_id"] == got.headers["webhook-id"]
    assert entry["status"] == "delivered" and entry["attempts"] == 1 and entry["last_status_code"] == 200
    assert entry["latency_ms"] is not None and entry["latency_ms"] >= 0 and entry["delivered_at"]
    assert entry["response_body"].startswith("thanks xxx") and len(entry["response_body"]) == 1024
    assert entry["error"] is None and entry["next_attempt_at"] is None

    # Dispatching again sends nothing more: each event is dispatched once.
    await cycle(own.sender(), utcnow() + timedelta(days=1))
    assert len(receiver.got(name)) == 1


async def test_the_event_filter_and_other_schools(own: Own, admin_headers: dict[str, str], receiver: Receiver) -> None:
    school = await make_school(own.client, admin_headers)
    other = await make_school(own.client, admin_headers, name="Other")
    failed_only, url_a = receiver.endpoint()
    everything, url_b = receiver.endpoint()
    others, url_c = receiver.endpoint()
    await register(own, school, url_a, events=["sync_job.failed"])
    await register(own, school, url_b)
    await register(own, other, url_c)

    await emit(own, school, "sync_job.succeeded")
    await emit(own, school, "sync_job.failed", status="failed")
    await cycle(own.sender(), utcnow())

    assert [json.loads(r.body)["type"] for r in receiver.got(failed_only)] == ["sync_job.failed"]
    assert sorted(json.loads(r.body)["type"] for r in receiver.got(everything)) == [
        "sync_job.failed",
        "sync_job.succeeded",
    ]
    assert receiver.got(others) == []


async def test_retries_after_500s_with_the_same_webhook_id(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint(500, Answer(503, body="down for maintenance"))
    hook = await register(own, school, url)
    await emit(own, school)
    sender = own.sender()
    t0 = utcnow()

    await cycle(sender, t0)
    [entry] = await log(own, school, hook)
    assert entry["status"] == "failed" and entry["attempts"] == 1 and entry["last_status_code"] == 500
    assert entry["error"] == "HTTP 500"
    assert datetime.fromisoformat(entry["next_attempt_at"]) == t0 + RETRY_SCHEDULE[0]

    await cycle(sender, t0 + timedelta(seconds=4))  # not due yet
    assert len(receiver.got(name)) == 1

    t1 = t0 + timedelta(seconds=6)
    await cycle(sender, t1)
    [entry] = await log(own, school, hook)
    assert entry["attempts"] == 2 and entry["last_status_code"] == 503
    assert entry["response_body"] == "down for maintenance"
    assert datetime.fromisoformat(entry["next_attempt_at"]) == t1 + RETRY_SCHEDULE[1]
    assert (await hook_state(own, school, hook))["consecutive_failures"] == 2

    await cycle(sender, t1 + RETRY_SCHEDULE[1] + timedelta(seconds=1))
    [entry] = await log(own, school, hook)
    assert entry["status"] == "delivered" and entry["attempts"] == 3 and entry["last_status_code"] == 200

    got = receiver.got(name)
    assert len(got) == 3
    assert len({r.headers["webhook-id"] for r in got}) == 1 and got[0].headers["webhook-id"] == entry["message_id"]
    assert len({verify(hook, r)["timestamp"] for r in got}) == 1  # the same body, each attempt signed anew
    assert (await hook_state(own, school, hook))["consecutive_failures"] == 0


def test_the_retry_schedule_spans_about_three_days() -> None:
    total = sum(RETRY_SCHEDULE, timedelta())
    assert timedelta(days=2.8) < total < timedelta(days=3.1)
    assert list(RETRY_SCHEDULE) == sorted(RETRY_SCHEDULE)
    jittered = Sender(None, None, None)  # type: ignore[arg-type]
    waits = [jittered.next_delay(1) for _ in range(200)]
    assert all(w is not None and timedelta(seconds=4) <= w <= timedelta(seconds=6) for w in waits)
    assert len(set(waits)) > 100
    assert jittered.next_delay(len(RETRY_SCHEDULE)) is not None and jittered.next_delay(len(RETRY_SCHEDULE) + 1) is None


async def test_gives_up_when_the_schedule_is_spent_and_marks_the_webhook_failing(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint(*[500] * 6)
    hook = await register(own, school, url)
    sender = own.sender(schedule=(timedelta(seconds=1), timedelta(seconds=1)), failing_after=3)
    await emit(own, school)
    await emit(own, school)
    t = utcnow()
    for _ in range(3):
        await cycle(sender, t)
        t += timedelta(seconds=2)
    entries = await log(own, school, hook)
    assert [e["status"] for e in entries] == ["gave_up", "gave_up"] and {e["attempts"] for e in entries} == {3}
    assert all(e["next_attempt_at"] is None for e in entries)
    state = await hook_state(own, school, hook)
    assert state["status"] == "failing" and state["consecutive_failures"] == 6
    assert len(receiver.got(name)) == 6

    # Still delivered to while failing; a success makes it active again.
    await emit(own, school)
    await cycle(sender, t)
    assert len(receiver.got(name)) == 7
    state = await hook_state(own, school, hook)
    assert state["status"] == "active" and state["consecutive_failures"] == 0


async def test_a_receiver_down_for_a_while_still_gets_every_event(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint(*[502] * 12)  # down: three events, four attempts each
    hook = await register(own, school, url)
    emitted = {await emit(own, school, counts={"n": i}) for i in range(3)}
    sender = own.sender()
    t = utcnow()
    for wait in [timedelta(0), *RETRY_SCHEDULE[:3]]:
        t += wait + timedelta(seconds=1)
        await cycle(sender, t)
    assert len(receiver.got(name)) == 12 and receiver.scripts[name] == []
    assert {e["status"] for e in await log(own, school, hook)} == {"failed"}

    t += RETRY_SCHEDULE[3] + timedelta(seconds=1)  # back up: the 5th attempts get through
    await cycle(sender, t)
    got = receiver.got(name)
    ok = {r.headers["webhook-id"]: verify(hook, r) for r in got[12:]}
    assert len(got) == 15 and len(ok) == 3
    assert {r.headers["webhook-id"] for r in got[:12]} == set(ok)  # every retry kept its id
    entries = await log(own, school, hook)
    assert {uuid.UUID(e["event_id"]) for e in entries} == emitted
    assert {(e["status"], e["attempts"]) for e in entries} == {("delivered", 5)}


async def test_410_disables_the_webhook(own: Own, admin_headers: dict[str, str], receiver: Receiver) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint(410)
    hook = await register(own, school, url)
    await emit(own, school)
    await cycle(own.sender(), utcnow())

    state = await hook_state(own, school, hook)
    assert state["status"] == "disabled" and state["disabled_at"]
    [entry] = await log(own, school, hook)
    assert entry["status"] == "gave_up" and entry["last_status_code"] == 410 and "410" in entry["error"]

    # No more deliveries: new events are not dispatched to it, redelivery is refused.
    await emit(own, school)
    await cycle(own.sender(), utcnow() + timedelta(days=1))
    assert len(receiver.got(name)) == 1 and len(await log(own, school, hook)) == 1
    r = await own.client.post(
        f"/v1/webhooks/{hook['id']}/deliveries/{entry['id']}/redeliver", headers=school.coordinator
    )
    assert_problem(r, 409)
    audit = await own.client.get("/v1/audit-events", params={"action": "webhook.disabled"}, headers=school.viewer)
    assert [a["actor"] for a in audit.json()["items"]] == ["system"]


async def test_410_gives_up_the_webhooks_other_open_deliveries(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint(500, 410)
    hook = await register(own, school, url)
    await emit(own, school)
    t = utcnow()
    await cycle(own.sender(), t)  # 500: retried later
    await emit(own, school)
    await cycle(own.sender(), t + timedelta(seconds=1))  # the second event: 410
    entries = await log(own, school, hook)
    assert [e["status"] for e in entries] == ["gave_up", "gave_up"]
    assert "disabled" in entries[1]["error"]
    await cycle(own.sender(), t + timedelta(days=4))
    assert len(receiver.got(name)) == 2


async def test_a_slow_receiver_times_out(own: Own, admin_headers: dict[str, str], receiver: Receiver) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint(Answer(sleep=3.0))
    hook = await register(own, school, url)
    await emit(own, school)
    started = time.monotonic()
    await cycle(own.sender(timeout_s=0.5), utcnow())
    assert time.monotonic() - started < 2.5
    assert len(receiver.got(name)) == 1
    [entry] = await log(own, school, hook)
    assert entry["status"] == "failed" and entry["error"] == "timed out after 0.5 s"
    assert entry["last_status_code"] is None and entry["latency_ms"] >= 500


async def test_redirects_are_not_followed(own: Own, admin_headers: dict[str, str], receiver: Receiver) -> None:
    school = await make_school(own.client, admin_headers)
    target, target_url = receiver.endpoint()
    name, url = receiver.endpoint(Answer(307, headers={"location": target_url}))
    hook = await register(own, school, url)
    await emit(own, school)
    await cycle(own.sender(), utcnow())
    [entry] = await log(own, school, hook)
    assert entry["status"] == "failed" and entry["last_status_code"] == 307
    assert entry["error"] == "redirect (307) not followed"
    assert len(receiver.got(name)) == 1 and receiver.got(target) == []


async def test_redelivery_sends_again_with_the_same_webhook_id(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint()
    hook = await register(own, school, url)
    await emit(own, school)
    await cycle(own.sender(), utcnow())
    [entry] = await log(own, school, hook)
    assert entry["status"] == "delivered"

    path = f"/v1/webhooks/{hook['id']}/deliveries/{entry['id']}/redeliver"
    assert_problem(await own.client.post(path, headers=school.viewer), 403)
    r = await own.client.post(path, headers=school.coordinator)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending" and r.json()["id"] == entry["id"]

    await cycle(own.sender(), utcnow())
    first, second = receiver.got(name)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == entry["message_id"]
    assert verify(hook, first) == verify(hook, second)
    [entry] = await log(own, school, hook)
    assert entry["status"] == "delivered" and entry["attempts"] == 2


async def test_no_event_for_a_change_that_rolled_back(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint()
    hook = await register(own, school, url)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with own.session_factory() as session, session.begin():
            await events.emit(session, uuid.UUID(school.id), "sync_job.succeeded", JOB)
            raise Boom  # the state change fails after the event was added: the transaction rolls back

    count = "SELECT count(*) FROM outbox_events WHERE school_id = :s"
    assert await own.scalar(count, s=uuid.UUID(school.id)) == 0
    await cycle(own.sender(), utcnow())
    assert receiver.got(name) == [] and await log(own, school, hook) == []

    await emit(own, school)  # the same change committed: one event, delivered
    await cycle(own.sender(), utcnow())
    assert await own.scalar(count, s=uuid.UUID(school.id)) == 1 and len(receiver.got(name)) == 1


async def test_only_events_after_the_webhook_was_created(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    await emit(own, school, status="earlier")
    name, url = receiver.endpoint()
    await register(own, school, url)
    await emit(own, school, status="later")
    await cycle(own.sender(), utcnow())
    assert [json.loads(r.body)["data"]["status"] for r in receiver.got(name)] == ["later"]


async def test_the_ssrf_guard_runs_again_at_delivery(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint()
    hook = await register(own, school, url.replace("127.0.0.1", "localhost"))  # allowed when it was created
    await emit(own, school)
    await cycle(own.sender(allow_private_urls=False), utcnow())
    assert receiver.got(name) == []
    [entry] = await log(own, school, hook)
    assert entry["status"] == "failed" and entry["last_status_code"] is None
    assert entry["error"].startswith("refused by SSRF guard: localhost resolves to")


async def test_a_worker_that_dies_mid_attempt_leaves_the_delivery_due_again(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    name, url = receiver.endpoint()
    hook = await register(own, school, url)
    await emit(own, school)
    t = utcnow()
    await delivery.dispatch(own.session_factory, t)
    async with own.session_factory() as session:  # claimed, then the worker "dies" before sending
        claimed = await repository.claim_due(session, t, 100, delivery.LEASE)
        await session.commit()
    assert str(hook["id"]) in {str(c.webhook_id) for c in claimed}
    await delivery.deliver_due(own.sender(), t + timedelta(seconds=30))
    assert receiver.got(name) == []
    await delivery.deliver_due(own.sender(), t + delivery.LEASE + timedelta(seconds=1))
    assert len(receiver.got(name)) == 1
    assert (await log(own, school, hook))[0]["status"] == "delivered"


async def test_the_delivery_log_is_paginated_newest_first(
    own: Own, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    school = await make_school(own.client, admin_headers)
    _, url = receiver.endpoint()
    hook = await register(own, school, url)
    for i in range(5):
        await emit(own, school, counts={"n": i})
        await delivery.dispatch(own.session_factory, utcnow())
    everything = await log(own, school, hook)
    assert len(everything) == 5
    assert [e["created_at"] for e in everything] == sorted((e["created_at"] for e in everything), reverse=True)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await own.client.get(f"/v1/webhooks/{hook['id']}/deliveries", params=params, headers=school.viewer)
        seen += [e["id"] for e in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in everything]
