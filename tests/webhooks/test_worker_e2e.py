"""End to end through the real worker: a sync's completion reaches a receiver on loopback, signed and
exactly described, even when the receiver is down at first."""

from __future__ import annotations

import subprocess

import httpx
from standardwebhooks.webhooks import Webhook as Verifier

from app.demo_mis.server import DemoMisServer
from tests.sync.flow import mis_school
from tests.webhooks.conftest import Receiver

#: The job fields every sync_job.* event carries.
JOB_FIELDS = ("id", "kind", "mode", "status", "counts", "guard", "error", "created_at", "finished_at")


async def test_sync_completion_reaches_the_receiver_signed(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    demo_mis: DemoMisServer,
    worker: subprocess.Popen[bytes],
    receiver: Receiver,
) -> None:
    school = await mis_school(client, admin_headers, demo_mis, pupils=40)
    name, url = receiver.endpoint(503)  # down for the first attempt
    r = await client.post("/v1/webhooks", json={"url": url}, headers=school.h)
    assert r.status_code == 201, r.text
    hook = r.json()
    verifier = Verifier(hook["secret"])

    await school.map_by_name()  # a registration_groups job: sync_job.succeeded
    groups_job = (await client.get("/v1/sync-jobs", params={"kind": "registration_groups"}, headers=school.h)).json()
    preview = await school.preview()  # a pupils preview: sync_job.awaiting_review
    assert preview["status"] == "awaiting_review", preview

    # 503, then the retry about 5 s later; the preview's event once.
    got = await receiver.wait_for(name, 3, timeout=60)
    bodies = [verifier.verify(g.body, g.headers) for g in got]
    by_type: dict[str, list[tuple[str, dict[str, object]]]] = {}
    for g, b in zip(got, bodies, strict=True):
        by_type.setdefault(b["type"], []).append((g.headers["webhook-id"], b))
    assert sorted(by_type) == ["sync_job.awaiting_review", "sync_job.succeeded"]
    assert len(by_type["sync_job.succeeded"]) == 2
    assert len({msg_id for msg_id, _ in by_type["sync_job.succeeded"]}) == 1  # the retry kept its webhook-id

    finished = groups_job["items"][0]
    [(_, reviewed)] = by_type["sync_job.awaiting_review"]
    for job, (_, event) in ((finished, by_type["sync_job.succeeded"][-1]), (preview, (None, reviewed))):
        data = event["data"]
        assert isinstance(data, dict)
        assert {k: data[k] for k in JOB_FIELDS} == {k: job[k] for k in JOB_FIELDS}
    assert reviewed["data"]["counts"]["new"] == 40  # type: ignore[index]

    log = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=school.keys.viewer)).json()["items"]
    assert [(e["event_type"], e["status"]) for e in log] == [
        ("sync_job.awaiting_review", "delivered"),
        ("sync_job.succeeded", "delivered"),
    ]
    assert [e["attempts"] for e in log] == [1, 2]
