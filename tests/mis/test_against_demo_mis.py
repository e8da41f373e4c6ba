"""Both connectors against the demo MIS under real uvicorn on an ephemeral port.

Checks that each connector reads the school completely and exactly as the simulator's
``/_demo/.../truth`` describes it, that both providers agree, that a rollover shows through,
and that every injected fault ends in a retried success or a clear MisFetchError.
Each test uses its own school ref, so tests do not disturb each other.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from mis_fakes import Sleeps

from app.demo_mis.app import create_app
from app.demo_mis.server import DemoMisServer
from app.mis.base import MisConnector, MisFetchError, MisGroup, MisPupil
from app.mis.factory import build_connector
from app.mis.http import HttpOptions
from app.mis.oneroster import NO_DEMOGRAPHICS_WARNING

PROVIDERS = ("wonde", "oneroster")
_refs = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[DemoMisServer]:
    with DemoMisServer(create_app(default_pupils=120)) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


@pytest.fixture
def school(server: DemoMisServer) -> Iterator[str]:
    ref = f"T{next(_refs)}"
    yield ref
    # The demographics list spans every loaded school (and answers 403/404 when any one denies
    # it or serves it per user only), so each test removes its school when done.
    httpx.delete(f"{server.url}/_demo/schools/{ref}").raise_for_status()


def configure(server: DemoMisServer, ref: str, **options: Any) -> None:
    httpx.put(f"{server.url}/_demo/schools/{ref}", json=options).raise_for_status()


def arm(server: DemoMisServer, ref: str, **fault: Any) -> None:
    httpx.post(f"{server.url}/_demo/schools/{ref}/faults", json=fault).raise_for_status()


def truth(server: DemoMisServer, ref: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/_demo/schools/{ref}/truth")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def connect(
    server: DemoMisServer,
    client: httpx.AsyncClient,
    provider: str,
    ref: str,
    sleep: Sleeps | None = None,
    **options: Any,
) -> MisConnector:
    if provider == "wonde":
        connection: dict[str, Any] = {
            "provider": "wonde",
            "base_url": f"{server.url}/v1.0",
            "school_ref": ref,
            "credentials": {"token": "demo-wonde-token"},
        }
    else:
        connection = {
            "provider": "oneroster",
            "base_url": f"{server.url}/ims/oneroster/rostering/v1p2",
            "school_ref": ref,
            "credentials": {
                "client_id": "demo-client",
                "client_secret": "demo-secret",
                "token_url": f"{server.url}/oauth/token",
            },
        }
    return build_connector(
        connection, client, sleep=sleep or Sleeps(), http_options=HttpOptions(**options) if options else None
    )


async def fetch(conn: MisConnector) -> list[MisPupil]:
    return [p async for page in conn.pupils() for p in page]


def expected_pupils(t: dict[str, Any]) -> dict[str, MisPupil]:
    gender = {"M": "male", "F": "female"}
    return {
        p["id"]: MisPupil(
            mis_id=p["id"],
            forename=p["forename"],
            surname=p["surname"],
            legal_forename=p["legal_forename"],
            legal_surname=p["legal_surname"],
            date_of_birth=date.fromisoformat(p["date_of_birth"]) if p["date_of_birth"] else None,
            upn=p["upn"],
            gender=gender.get(p["gender"], p["gender"]),
            year_group=p["year_group"],
            group_ids=(p["registration_group_id"],),
        )
        for p in t["pupils"]
    }


def expected_groups(t: dict[str, Any]) -> dict[str, MisGroup]:
    return {
        g["id"]: MisGroup(mis_id=g["id"], name=g["name"], year_group=g["year_group"])
        for g in t["groups"]
        if g["type"] == "REGISTRATION"
    }


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_reads_the_whole_school_exactly(
    server: DemoMisServer, client: httpx.AsyncClient, school: str, provider: str
) -> None:
    configure(server, school, pupils=150)
    t = truth(server, school)
    conn = connect(server, client, provider, school)
    groups = {g.mis_id: g for g in await conn.registration_groups()}
    assert groups == expected_groups(t)
    pupils = {p.mis_id: p for p in await fetch(conn)}
    assert pupils == expected_pupils(t)
    assert conn.notes.warnings == []


async def test_providers_agree(server: DemoMisServer, client: httpx.AsyncClient, school: str) -> None:
    configure(server, school, pupils=90)
    wonde, oneroster = (connect(server, client, p, school) for p in PROVIDERS)
    assert await wonde.registration_groups() == await oneroster.registration_groups()
    assert sorted(await fetch(wonde), key=lambda p: p.mis_id) == sorted(await fetch(oneroster), key=lambda p: p.mis_id)


@pytest.mark.parametrize("missing", ["omit", "null", "empty"])
async def test_wonde_without_education_details_takes_the_year_from_the_group(
    server: DemoMisServer, client: httpx.AsyncClient, school: str, missing: str
) -> None:
    configure(server, school, pupils=60, wonde_education_details=False, wonde_missing_include=missing)
    t = truth(server, school)
    pupils = await fetch(connect(server, client, "wonde", school))
    want = {p["id"]: p["year_group"] for p in t["pupils"]}
    assert {p.mis_id: p.year_group for p in pupils} == want
    assert all(p.upn is None for p in pupils)  # no education details: no UPN either


async def test_oneroster_demographics_per_user(server: DemoMisServer, client: httpx.AsyncClient, school: str) -> None:
    configure(server, school, pupils=40, oneroster_demographics="per_user")
    conn = connect(server, client, "oneroster", school)
    assert {p.mis_id: p for p in await fetch(conn)} == expected_pupils(truth(server, school))
    assert conn.notes.warnings == []


async def test_oneroster_demographics_denied(server: DemoMisServer, client: httpx.AsyncClient, school: str) -> None:
    configure(server, school, pupils=40, oneroster_demographics="denied")
    conn = connect(server, client, "oneroster", school)
    pupils = await fetch(conn)
    assert len(pupils) == len(truth(server, school)["pupils"])
    assert all(p.date_of_birth is None and p.gender is None for p in pupils)
    assert conn.notes.warnings == [NO_DEMOGRAPHICS_WARNING]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_rollover_shows_through(
    server: DemoMisServer, client: httpx.AsyncClient, school: str, provider: str
) -> None:
    configure(server, school, pupils=150)
    conn = connect(server, client, provider, school)
    before_groups = {g.mis_id for g in await conn.registration_groups()}
    before = {p.mis_id: p for p in await fetch(conn)}
    (await client.post(f"{server.url}/_demo/schools/{school}/rollover")).raise_for_status()
    t = truth(server, school)
    after_groups = await conn.registration_groups()
    after = {p.mis_id: p for p in await fetch(conn)}
    assert {g.mis_id: g for g in after_groups} == expected_groups(t)
    assert after == expected_pupils(t)
    assert not before_groups & {g.mis_id for g in after_groups}  # new group ids
    leavers = {i for i, p in before.items() if p.year_group == "Year 13"}
    assert leavers and not leavers & set(after)
    stayed = set(before) & set(after)
    order = [f"Year {n}" for n in range(1, 14)]
    for pid in stayed:
        old, new = before[pid].year_group, after[pid].year_group
        if old in order:
            assert new == order[order.index(old) + 1]
    assert any(p.year_group == "Nursery 1" for i, p in after.items() if i not in before)  # new intake


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("fault", "sleeps"),
    [
        ({"mode": "server_error", "count": 2}, 2),
        ({"mode": "rate_limited", "count": 1, "retry_after": 3}, 1),
    ],
)
async def test_transient_faults_are_retried(
    server: DemoMisServer,
    client: httpx.AsyncClient,
    school: str,
    provider: str,
    fault: dict[str, Any],
    sleeps: int,
) -> None:
    configure(server, school, pupils=60)
    arm(server, school, provider=provider, endpoint="students", **fault)  # the first page
    recorder = Sleeps()
    pupils = await fetch(connect(server, client, provider, school, recorder))
    assert len(pupils) == len(truth(server, school)["pupils"])
    assert len(recorder.calls) == sleeps
    if fault["mode"] == "rate_limited":
        assert recorder.calls == [3.0]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_slow_answer_times_out_and_is_retried(
    server: DemoMisServer, client: httpx.AsyncClient, school: str, provider: str
) -> None:
    configure(server, school, pupils=30)
    arm(server, school, provider=provider, endpoint="students", mode="slow", delay_ms=400, count=1)
    recorder = Sleeps()
    conn = connect(server, client, provider, school, recorder, read_timeout=0.1)
    assert len(await fetch(conn)) == len(truth(server, school)["pupils"])
    assert len(recorder.calls) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("mode", "code", "why"),
    [
        ("unauthorized", "credentials_rejected", "HTTP 401"),
        ("forbidden", "credentials_rejected", "HTTP 403"),
        ("no_envelope", "bad_response", "not an object"),
        ("truncated", "bad_response", "page"),
        ("duplicate_ids", "bad_response", "appears twice"),
        ("malformed_record", "bad_response", "page 2"),
    ],
)
async def test_bad_answers_fail_the_fetch(
    server: DemoMisServer, client: httpx.AsyncClient, school: str, provider: str, mode: str, code: str, why: str
) -> None:
    configure(server, school, pupils=250)  # several pages, so duplicates can cross pages
    # From the second page on, where a truncation or a duplicate is only visible across pages
    # (and a OneRoster 401 persists after the token is renewed).
    arm(server, school, provider=provider, endpoint="students", mode=mode, after=1)
    with pytest.raises(MisFetchError) as info:
        await fetch(connect(server, client, provider, school))
    assert info.value.code == code and why in info.value.detail
    if mode == "truncated":  # Wonde: more without next; OneRoster: short of X-Total-Count
        assert ("no 'next'" if provider == "wonde" else "truncated answer") in info.value.detail
    names = {p["surname"] for p in truth(server, school)["pupils"]}
    assert not any(name in info.value.detail for name in names)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_empty_answer_is_an_empty_roster(
    server: DemoMisServer, client: httpx.AsyncClient, school: str, provider: str
) -> None:
    # An empty but well-formed answer is not an error here; the sync's safety guard holds it.
    configure(server, school, pupils=30)
    arm(server, school, provider=provider, endpoint="students", mode="empty")
    assert await fetch(connect(server, client, provider, school)) == []


async def test_persistent_server_errors_are_unavailable(
    server: DemoMisServer, client: httpx.AsyncClient, school: str
) -> None:
    configure(server, school, pupils=30)
    arm(server, school, provider="wonde", endpoint="groups", mode="server_error")
    recorder = Sleeps()
    with pytest.raises(MisFetchError) as info:
        await connect(server, client, "wonde", school, recorder).registration_groups()
    assert info.value.code == "unavailable" and len(recorder.calls) == 4


async def test_oneroster_renews_an_expired_token(server: DemoMisServer, client: httpx.AsyncClient, school: str) -> None:
    configure(server, school, pupils=30)
    conn = connect(server, client, "oneroster", school)
    await conn.registration_groups()
    (await client.post(f"{server.url}/_demo/oauth/expire")).raise_for_status()
    assert len(await fetch(conn)) == len(truth(server, school)["pupils"])


async def test_wrong_credentials(server: DemoMisServer, client: httpx.AsyncClient, school: str) -> None:
    configure(server, school, pupils=10)
    wonde = build_connector(
        {"provider": "wonde", "base_url": f"{server.url}/v1.0", "school_ref": school, "credentials": {"token": "x"}},
        client,
    )
    oneroster = build_connector(
        {
            "provider": "oneroster",
            "base_url": f"{server.url}/ims/oneroster/rostering/v1p2",
            "school_ref": school,
            "credentials": {"client_id": "demo-client", "client_secret": "x", "token_url": f"{server.url}/oauth/token"},
        },
        client,
    )
    for conn in (wonde, oneroster):
        with pytest.raises(MisFetchError) as info:
            await conn.registration_groups()
        assert info.value.code == "credentials_rejected"
