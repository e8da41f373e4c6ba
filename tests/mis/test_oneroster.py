"""OneRoster 1.2 connector against a hand-written OneRoster server (httpx.MockTransport)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import httpx
import pytest
from mis_fakes import (
    OR_BASE,
    OR_CLIENT,
    FakeOneRoster,
    Sleeps,
    client_for,
    or_class,
    or_demo,
    or_enrollment,
    or_user,
)

from app.mis.base import MisConnector, MisFetchError, MisPupil
from app.mis.oneroster import NO_DEMOGRAPHICS_WARNING, OneRosterConnector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connector(fake: FakeOneRoster, **kwargs: Any) -> OneRosterConnector:
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("page_size", 2)
    return OneRosterConnector(client_for(fake), OR_BASE, "org1", dict(OR_CLIENT), **kwargs)


async def all_pupils(conn: OneRosterConnector) -> list[MisPupil]:
    return [p async for page in conn.pupils() for p in page]


def school(**kwargs: Any) -> FakeOneRoster:
    users = [
        or_user("u1", "Zoe", "O'Brien", preferred=("Zoë", "OBrien"), grades=["07"], upn_type="upn"),
        or_user("u2", "Sam", "Lee", grades=[], upn=None, metadata={"ext:UPN": "m80120000500a"}),
        or_user("u3", "Ama", "Owusu", grades=["KG"], upn=None),
        or_user("u4", "Gone", "Away", status="tobedeleted"),
        or_user("u5", "Ben", "Ng", grades=None, upn=None),
    ]
    users[4].pop("grades")
    classes = [
        or_class("c7a", "7A", grades=["07"]),
        or_class("c3o", "Oak", grades=["03"]),
        or_class("cra", "RA"),  # no grades: the title says Reception
        or_class("cmath", "7 Maths", class_type="scheduled", grades=["07"]),
        or_class("cold", "6Z", status="tobedeleted"),
    ]
    enrollments = [
        or_enrollment("e1", "u1", "c7a"),
        or_enrollment("e2", "u1", "cmath"),  # a teaching set: ignored
        or_enrollment("e3", "u2", "c3o"),
        or_enrollment("e4", "u3", "cra"),
        or_enrollment("e5", "t1", "c7a", role="teacher"),
        or_enrollment("e6", "u5", "cra"),
        or_enrollment("e7", "u5", "cold"),  # class gone
        or_enrollment("e8", "u3", "c7a", status="tobedeleted"),
    ]
    demographics = [or_demo("u1"), or_demo("u2", "2016-11-02", "male"), or_demo("u3", None, None), or_demo("u9")]
    return FakeOneRoster(users, classes, enrollments, demographics, **kwargs)


def by_id(pupils: list[MisPupil]) -> dict[str, MisPupil]:
    return {p.mis_id: p for p in pupils}


async def test_satisfies_the_protocol() -> None:
    assert isinstance(connector(school()), MisConnector)


async def test_registration_groups_are_live_homerooms() -> None:
    groups = await connector(school()).registration_groups()
    assert [(g.mis_id, g.name, g.year_group) for g in groups] == [
        ("c3o", "Oak", "Year 3"),
        ("c7a", "7A", "Year 7"),
        ("cra", "RA", "Reception"),
    ]


async def test_pupils_mapping() -> None:
    fake = school()
    conn = connector(fake)
    pupils = by_id(await all_pupils(conn))
    assert set(pupils) == {"u1", "u2", "u3", "u5"}  # u4 is tobedeleted
    u1 = pupils["u1"]
    assert (u1.forename, u1.surname, u1.legal_forename, u1.legal_surname) == ("Zoë", "OBrien", "Zoe", "O'Brien")
    assert u1.upn == "B801200005001" and u1.year_group == "Year 7" and u1.group_ids == ("c7a",)
    assert u1.date_of_birth == date(2012, 3, 15) and u1.gender == "female"
    u2 = pupils["u2"]
    assert u2.upn == "M80120000500A"  # from metadata, upper-cased
    assert u2.year_group == "Year 3"  # no grades on the user: the homeroom's
    assert u2.date_of_birth == date(2016, 11, 2) and u2.gender == "male"
    assert pupils["u3"].year_group == "Reception" and pupils["u3"].date_of_birth is None
    assert pupils["u3"].group_ids == ("cra",)
    assert pupils["u5"].year_group == "Reception" and pupils["u5"].group_ids == ("cra",)  # from the class title
    assert conn.notes.warnings == []
    lists = [r for r in fake.requests if r.method == "GET"]
    assert all(r.url.params["sort"] == "sourcedId" and r.url.params["orderBy"] == "asc" for r in lists)
    assert fake.tokens_issued == 1


async def test_pages_follow_the_total() -> None:
    fake = school()
    pages = [page async for page in connector(fake).pupils()]
    assert [len(p) for p in pages] == [2, 1, 1]  # 5 users in pages of 2; u4 skipped
    offsets = [r.url.params["offset"] for r in fake.requests if r.url.path.endswith("/students")]
    assert offsets == ["0", "2", "4"]


async def test_custom_grade_map_and_unknown_codes() -> None:
    fake = school()
    fake.collections["schools/org1/students"][1][2]["grades"] = ["G-R"]  # u3: unknown code
    conn = connector(fake, grade_map={"07": "Year 8", "G-R": "R"})
    pupils = by_id(await all_pupils(conn))
    assert pupils["u1"].year_group == "Year 8" and pupils["u3"].year_group == "Reception"

    fake = school()
    fake.collections["schools/org1/students"][1][0]["grades"] = ["X9"]
    conn = connector(fake)
    pupils = by_id(await all_pupils(conn))
    assert pupils["u1"].year_group == "Year 7"  # falls back to the homeroom's grade
    assert conn.notes.warnings == ["grade codes not in the grade map (pupils): 'X9' (1)"]


def test_bad_grade_map_is_misconfigured() -> None:
    with pytest.raises(MisFetchError) as info:
        connector(school(), grade_map={"07": "Seventh"})
    assert info.value.code == "misconfigured"


async def test_demographics_per_user_when_the_list_is_absent() -> None:
    fake = school(demographics_mode="single")
    pupils = by_id(await all_pupils(connector(fake)))
    assert pupils["u1"].date_of_birth == date(2012, 3, 15)
    assert pupils["u5"].date_of_birth is None  # 404 for that user
    singles = sorted(r.url.path.rsplit("/", 1)[1] for r in fake.requests if "/demographics/" in r.url.path)
    assert singles == ["u1", "u2", "u3", "u5"]


@pytest.mark.parametrize("mode", ["forbidden"])
async def test_demographics_forbidden_goes_on_without_dates(mode: str) -> None:
    fake = school(demographics_mode=mode)
    conn = connector(fake)
    pupils = await all_pupils(conn)
    assert len(pupils) == 4 and all(p.date_of_birth is None for p in pupils)
    assert conn.notes.warnings == [NO_DEMOGRAPHICS_WARNING]


async def test_demographics_forbidden_per_user_stops_asking() -> None:
    fake = school(demographics_mode="single")
    fake.collections["demographics"] = ("demographics", [])

    class Forbidden(FakeOneRoster):
        def _one_demographic(self, uid: str) -> httpx.Response:
            return httpx.Response(403)

    forbidding = Forbidden(*[fake.collections[k][1] for k in fake.collections], demographics_mode="single")
    conn = connector(forbidding, demographics_concurrency=1)
    pupils = await all_pupils(conn)
    assert all(p.date_of_birth is None for p in pupils)
    assert conn.notes.warnings == [NO_DEMOGRAPHICS_WARNING]
    assert sum("/demographics/" in r.url.path for r in forbidding.requests) == 1


async def test_token_is_cached_and_renewed_before_expiry() -> None:
    clock = Clock()
    fake = school(expires_in=600)
    conn = connector(fake, clock=clock)
    await conn.registration_groups()
    await conn.registration_groups()
    assert fake.tokens_issued == 1
    clock.now += 600 - 61  # just before the renewal margin (60 s): still cached
    await conn.registration_groups()
    assert fake.tokens_issued == 1
    clock.now += 2  # inside the margin: renewed before the server would refuse it
    await conn.registration_groups()
    assert fake.tokens_issued == 2
    token_request = next(r for r in fake.requests if r.url.path == "/oauth/token")
    assert token_request.method == "POST" and token_request.headers["authorization"].startswith("Basic ")
    assert token_request.content == b"grant_type=client_credentials"


async def test_401_renews_the_token_once() -> None:
    fake = school()
    conn = connector(fake)
    await conn.registration_groups()
    fake.revoke_tokens()  # the server forgot our token
    assert len(await conn.registration_groups()) == 3
    assert fake.tokens_issued == 2


async def test_401_after_renewal_is_credentials_rejected() -> None:
    fake = school()
    fake.faults = [None, httpx.Response(401), None, httpx.Response(401)]
    with pytest.raises(MisFetchError) as info:
        await connector(fake).registration_groups()
    assert info.value.code == "credentials_rejected" and info.value.status == 401
    assert fake.tokens_issued == 2


@pytest.mark.parametrize("status", [400, 401])
async def test_token_endpoint_rejection(status: int) -> None:
    fake = school()
    fake.faults = [httpx.Response(status, json={"error": "invalid_client"})]
    with pytest.raises(MisFetchError) as info:
        await connector(fake).registration_groups()
    assert info.value.code == "credentials_rejected"
    assert OR_CLIENT["client_secret"] not in info.value.detail


async def test_wrong_secret_is_credentials_rejected() -> None:
    conn = OneRosterConnector(
        client_for(school()), OR_BASE, "org1", {**OR_CLIENT, "client_secret": "wrong"}, sleep=Sleeps()
    )
    with pytest.raises(MisFetchError) as info:
        await conn.registration_groups()
    assert info.value.code == "credentials_rejected"


async def test_403_on_a_roster_list_is_credentials_rejected() -> None:
    fake = school()
    fake.faults = [None, httpx.Response(403)]
    with pytest.raises(MisFetchError) as info:
        await connector(fake).registration_groups()
    assert info.value.code == "credentials_rejected"


async def test_500_then_success_and_429_with_retry_after() -> None:
    fake = school()
    sleeps = Sleeps()
    fake.faults = [None, httpx.Response(500), None, httpx.Response(429, headers={"Retry-After": "4"})]
    assert len(await all_pupils(connector(fake, sleep=sleeps))) == 4
    assert len(sleeps.calls) == 2 and sleeps.calls[1] == 4.0


async def test_timeout_then_success() -> None:
    fake = school()
    fake.faults = [None, httpx.ReadTimeout("slow")]
    assert len(await connector(fake).registration_groups()) == 3


def tamper_students(change):
    def tamper(path: str, offset: int, items: list[Any], headers: dict[str, str]):
        if path.endswith("/students"):
            return change(offset, items, headers)
        return items, headers

    return tamper


async def test_fewer_items_than_the_total_is_bad_response() -> None:
    fake = school()
    fake.tamper = tamper_students(lambda off, items, h: (items, {"X-Total-Count": "7"}))
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "X-Total-Count 7" in info.value.detail


async def test_short_page_before_the_total_is_bad_response() -> None:
    fake = school()
    fake.tamper = tamper_students(lambda off, items, h: (items[:1] if off == 2 else items, h))
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "fewer than the limit" in info.value.detail


async def test_empty_page_before_the_total_is_bad_response() -> None:
    fake = school()
    fake.tamper = tamper_students(lambda off, items, h: ([] if off == 2 else items, h))
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "truncated" in info.value.detail


async def test_more_items_than_the_total_is_bad_response() -> None:
    fake = school()
    fake.tamper = tamper_students(lambda off, items, h: (items, {"X-Total-Count": "3"}))
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "X-Total-Count says 3" in info.value.detail


async def test_total_changing_during_the_fetch_is_bad_response() -> None:
    fake = school()
    fake.tamper = tamper_students(lambda off, items, h: (items, {"X-Total-Count": "6"} if off else h))
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "changed from 5 to 6" in info.value.detail


async def test_without_total_header_the_short_page_ends_the_list() -> None:
    fake = school()
    fake.tamper = lambda path, off, items, h: (items, {})
    assert len(await all_pupils(connector(fake))) == 4


async def test_duplicate_ids_across_pages_are_bad_response() -> None:
    fake = school()
    fake.tamper = tamper_students(
        lambda off, items, h: ([items[0], {**items[1], "sourcedId": "u1"}] if off == 2 else items, h)
    )
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "user u1 appears twice" in info.value.detail


@pytest.mark.parametrize(
    ("body", "why"),
    [({"students": []}, "no 'users' list"), ({"users": {}}, "no 'users' list"), ({}, "no 'users' list")],
)
async def test_200_without_envelope_is_bad_response(body: dict[str, Any], why: str) -> None:
    fake = school()

    class NoEnvelope(FakeOneRoster):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/students"):
                return httpx.Response(200, json=body, headers={"X-Total-Count": "0"})
            return super().__call__(request)

    broken = NoEnvelope(*[fake.collections[k][1] for k in fake.collections])
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(broken))
    assert info.value.code == "bad_response" and why in info.value.detail


async def test_empty_school_with_envelope_is_empty() -> None:
    conn = connector(FakeOneRoster())
    assert await all_pupils(conn) == [] and await conn.registration_groups() == []


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"givenName": None, "preferredFirstName": None}, "no givenName or familyName"),
        ({"familyName": 7}, "familyName is not a string"),
        ({"grades": "07"}, "grades is not a list"),
        ({"userIds": {"type": "UPN"}}, "userIds is not a list"),
        ({"enabledUser": "yes"}, "enabledUser"),
        ({"status": 1}, "status is not a string"),
    ],
)
async def test_malformed_user_is_bad_response_naming_the_id(change: dict[str, Any], why: str) -> None:
    fake = school()
    fake.collections["schools/org1/students"][1][2].update(change)  # u3
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "user u3" in info.value.detail and why in info.value.detail
    assert "Ama" not in info.value.detail and "Owusu" not in info.value.detail


async def test_malformed_enrollment_and_demographics() -> None:
    fake = school()
    fake.collections["schools/org1/enrollments"][1][0]["user"] = "u1"
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert "enrollment e1" in info.value.detail and "user is not a reference" in info.value.detail

    fake = school()
    fake.collections["demographics"][1][1]["birthDate"] = "2016-02-31"
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert "demographics u2" in info.value.detail and "birthDate is not a valid date" in info.value.detail
    assert "2016" not in info.value.detail


async def test_item_without_sourced_id_is_bad_response() -> None:
    fake = school()
    fake.tamper = lambda path, off, items, h: ([{k: v for k, v in i.items() if k != "sourcedId"} for i in items], h)
    with pytest.raises(MisFetchError) as info:
        await connector(fake).registration_groups()
    assert info.value.code == "bad_response" and "item 0 has no string sourcedId" in info.value.detail


async def test_no_pupil_data_or_credentials_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    fake = school()
    fake.faults = [None, httpx.Response(502)]
    with caplog.at_level(logging.DEBUG, logger="misync"):
        conn = connector(fake)
        await all_pupils(conn)
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records
    for secret in (OR_CLIENT["client_secret"], "tok1", "Zoë", "O'Brien", "2012-03-15", "B801200005001"):
        assert secret not in text
    assert OR_CLIENT["client_secret"] not in repr(conn)


def test_missing_credentials_are_misconfigured() -> None:
    with pytest.raises(MisFetchError) as info:
        OneRosterConnector(client_for(school()), OR_BASE, "org1", {"client_id": "x"})
    assert info.value.code == "misconfigured" and "client_secret, token_url" in info.value.detail


async def test_a_demographics_list_that_moves_while_read_thins_instead_of_failing() -> None:
    """The demographics list spans the whole server: another school's change mid-fetch must not fail
    this school's sync (its pupils come through; a note says some dates may be missing)."""
    fake = school()

    def other_school_changes(
        path: str, offset: int, items: list[Any], headers: dict[str, str]
    ) -> tuple[Any, dict[str, str]]:
        if path == "demographics" and offset > 0:  # the total grew and a record slid onto this page again
            return [items[0], *items] if items else items, {"X-Total-Count": str(int(headers["X-Total-Count"]) + 1)}
        return items, headers

    fake.tamper = other_school_changes
    conn = connector(fake, page_size=2)
    pupils = by_id(await all_pupils(conn))
    assert len(pupils) == 4 and pupils["u1"].date_of_birth == date(2012, 3, 15)
    assert any("changed while it was read" in w for w in conn.notes.warnings)
    # The roster itself stays strict: the same on the students list fails the fetch.
    fake2 = school()
    fake2.tamper = lambda path, offset, items, headers: (
        (items, {"X-Total-Count": "99"}) if path.endswith("students") and offset > 0 else (items, headers)
    )
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake2, page_size=2))
    assert info.value.code == "bad_response"
