"""Wonde connector against a hand-written Wonde server (httpx.MockTransport)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import httpx
import pytest
from mis_fakes import WONDE_BASE, WONDE_TOKEN, FakeWonde, Sleeps, client_for, reg, wonde_student

from app.mis.base import MisConnector, MisFetchError, MisPupil
from app.mis.wonde import WondeConnector


def connector(fake: FakeWonde, sleeps: Sleeps | None = None) -> WondeConnector:
    return WondeConnector(client_for(fake), WONDE_BASE, fake.school, {"token": WONDE_TOKEN}, sleep=sleeps or Sleeps())


async def all_pupils(conn: WondeConnector) -> list[MisPupil]:
    return [p async for page in conn.pupils() for p in page]


def roster() -> FakeWonde:
    students = [
        wonde_student(
            "S1",
            "Zoë",
            "O'Brien",
            legal=("Zoe", "O'Brien-Smith"),
            upn="b801200005001",
            groups=[reg("G7A", "7A"), reg("H1", "Brontë", "HOUSE"), reg("Y7", "Year 7", "YEAR")],
        ),
        wonde_student("S2", "Sam", "Lee", dob=None, upn=None, nc_year="R", gender="MALE", groups=[reg("GRA", "RA")]),
        # No education details at all: the year comes from the registration group "11X".
        wonde_student("S3", education=None, groups=[reg("G11X", "11X"), reg("M1", "11Ma1", "MISC")]),
        # Empty include and a group name that says nothing: no year.
        wonde_student("S4", education={"data": []}, groups=[reg("GOAK", "Oak")]),
        wonde_student("S5", nc_year="N1", groups=[]),
    ]
    groups = [
        reg("G7A", "7A", code="7A"),
        reg("GRA", "RA"),
        reg("G11X", "11X"),
        reg("GOAK", "Oak", description="Year 3 Oak"),
        reg("Y7", "Year 7", "YEAR"),
    ]
    return FakeWonde(students, groups)


async def test_satisfies_the_protocol() -> None:
    assert isinstance(connector(roster()), MisConnector)


async def test_pupils_mapping_across_pages() -> None:
    fake = roster()
    conn = connector(fake)
    pages = [page async for page in conn.pupils()]
    assert [len(p) for p in pages] == [2, 2, 1]
    by_id = {p.mis_id: p for page in pages for p in page}
    s1 = by_id["S1"]
    assert (s1.forename, s1.surname, s1.legal_forename, s1.legal_surname) == ("Zoë", "O'Brien", "Zoe", "O'Brien-Smith")
    assert s1.date_of_birth == date(2012, 3, 15) and s1.upn == "B801200005001" and s1.gender == "female"
    assert s1.year_group == "Year 7" and s1.group_ids == ("G7A",)  # house and year groups ignored
    s2 = by_id["S2"]
    assert s2.date_of_birth is None and s2.upn is None and s2.year_group == "Reception" and s2.gender == "male"
    assert by_id["S3"].year_group == "Year 11" and by_id["S3"].group_ids == ("G11X",)
    # The year comes from the registration groups list (read first), whose description says Year 3.
    assert by_id["S4"].year_group == "Year 3" and by_id["S4"].upn is None
    assert by_id["S5"].year_group == "Nursery 1" and by_id["S5"].group_ids == ()
    assert conn.notes.warnings == []  # every pupil has a year group now
    assert fake.requests[0].url.path == "/v1.0/schools/S1/groups"  # registration groups first
    first = next(r for r in fake.requests if r.url.path.endswith("/students"))
    assert first.url.path == "/v1.0/schools/S1/students"
    assert first.url.params["include"] == "education_details,groups"
    assert first.url.params["cursor"] == "true" and first.url.params["per_page"] == "200"
    assert first.headers["authorization"] == f"Bearer {WONDE_TOKEN}"


async def test_group_year_from_the_registration_groups_list_is_reused_for_pupils() -> None:
    fake = roster()
    conn = connector(fake)
    groups = await conn.registration_groups()
    assert [(g.mis_id, g.name, g.year_group) for g in groups] == [
        ("G7A", "7A", "Year 7"),
        ("GRA", "RA", "Reception"),
        ("G11X", "11X", "Year 11"),
        ("GOAK", "Oak", "Year 3"),  # from the description
    ]
    assert fake.requests[0].url.params["type"] == "REGISTRATION"
    by_id = {p.mis_id: p for p in await all_pupils(conn)}
    assert by_id["S4"].year_group == "Year 3"


async def test_other_group_types_are_ignored_even_if_the_server_ignores_the_filter() -> None:
    class Unfiltered(FakeWonde):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            url = request.url.copy_remove_param("type")
            return super().__call__(httpx.Request(request.method, url, headers=request.headers))

    fake = roster()
    fake.groups.append(reg("X", "7 Maths", "COURSE"))
    groups = await connector(Unfiltered(fake.students, fake.groups)).registration_groups()
    assert {g.mis_id for g in groups} == {"G7A", "GRA", "G11X", "GOAK"}


async def test_500_then_success() -> None:
    fake = roster()
    fake.faults = [httpx.Response(500), None, httpx.Response(503)]
    sleeps = Sleeps()
    assert len(await all_pupils(connector(fake, sleeps))) == 5
    assert len(sleeps.calls) == 2


async def test_429_with_retry_after() -> None:
    fake = roster()
    fake.faults = [None, httpx.Response(429, headers={"Retry-After": "2"})]
    sleeps = Sleeps()
    assert len(await all_pupils(connector(fake, sleeps))) == 5
    assert sleeps.calls == [2.0]


async def test_timeout_then_success() -> None:
    fake = roster()
    fake.faults = [httpx.ReadTimeout("slow")]
    assert len(await all_pupils(connector(fake))) == 5


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failures(status: int) -> None:
    fake = roster()
    fake.faults = [httpx.Response(status)]
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "credentials_rejected" and len(fake.requests) == 1
    assert WONDE_TOKEN not in info.value.detail


async def test_wrong_token_is_rejected() -> None:
    fake = roster()
    conn = WondeConnector(client_for(fake), WONDE_BASE, "S1", {"token": "nope"}, sleep=Sleeps())
    with pytest.raises(MisFetchError) as info:
        await conn.registration_groups()
    assert info.value.code == "credentials_rejected"


async def test_unknown_school_is_not_found() -> None:
    conn = WondeConnector(client_for(roster()), WONDE_BASE, "NOPE", {"token": WONDE_TOKEN}, sleep=Sleeps())
    with pytest.raises(MisFetchError) as info:
        await conn.registration_groups()
    assert info.value.code == "not_found"


async def test_empty_200_with_envelope_is_an_empty_roster() -> None:
    assert await all_pupils(connector(FakeWonde([], []))) == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"students": []}, "no 'data' list"),
        ({"data": {}}, "no 'data' list"),
        ({"data": []}, "no 'meta.pagination'"),
        ({"data": [], "meta": {"pagination": {"next": None}}}, "not a boolean"),
        ([], "not an object"),
    ],
)
async def test_200_without_envelope_is_bad_response(body: Any, why: str) -> None:
    fake = roster()
    fake.faults = [httpx.Response(200, json=body)]
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and why in info.value.detail


async def test_200_that_is_not_json_is_bad_response() -> None:
    fake = roster()
    fake.faults = [httpx.Response(200, text="<html>maintenance</html>")]
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "not JSON" in info.value.detail


async def test_more_without_next_is_bad_response() -> None:
    fake = roster()

    def drop_next(resource: str, page: int, body: dict[str, Any]) -> dict[str, Any]:
        if page == 1:
            body["meta"]["pagination"]["next"] = None
        return body

    fake.tamper = drop_next
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "'more' is true but there is no 'next'" in info.value.detail
    assert "page 2" in info.value.detail


async def test_next_on_another_host_is_refused() -> None:
    fake = roster()

    def elsewhere(resource: str, page: int, body: dict[str, Any]) -> dict[str, Any]:
        body["meta"]["pagination"]["next"] = "https://evil.test/v1.0/schools/S1/students?cursor=2"
        return body

    fake.tamper = elsewhere
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "another host" in info.value.detail
    assert all(r.url.host == "wonde.test" for r in fake.requests)


async def test_duplicate_ids_across_pages_are_bad_response() -> None:
    fake = roster()
    fake.students[2]["id"] = "S1"  # page 2 repeats a page-1 id
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    assert info.value.code == "bad_response" and "S1 appears twice" in info.value.detail


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"id": None}, "no string id"),
        ({"id": 17}, "no string id"),
        ({"forename": 42, "legal_forename": 42}, "forename is not a string"),
        ({"forename": None, "legal_forename": None}, "no forename or surname"),
        ({"date_of_birth": {"date": "2012-02-30 00:00:00.000000"}}, "date_of_birth is not a valid date"),
        ({"date_of_birth": "2012-02-01"}, "date_of_birth is not a date object"),
        ({"education_details": {"data": "7"}}, "education_details.data is not an object"),
        ({"groups": [reg("G7A", "7A")]}, "groups is not an include block"),
        ({"groups": {"data": [{"type": "REGISTRATION", "name": "7A"}]}}, "registration group has no id"),
    ],
)
async def test_malformed_record_is_bad_response_naming_the_id_only(change: dict[str, Any], why: str) -> None:
    fake = roster()
    fake.students[3].update(change)
    with pytest.raises(MisFetchError) as info:
        await all_pupils(connector(fake))
    err = info.value
    assert err.code == "bad_response" and why in err.detail and "page 2" in err.detail
    if change.get("id") is None and "id" not in change:
        assert "S4" in err.detail
    for secret in ("Ann", "Lee", "2012"):
        assert secret not in err.detail


async def test_no_pupil_data_or_token_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    fake = roster()
    fake.faults = [httpx.Response(503)]
    with caplog.at_level(logging.DEBUG, logger="misync"):
        conn = connector(fake)
        await conn.registration_groups()
        await all_pupils(conn)
    assert caplog.records
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in (WONDE_TOKEN, "Zoë", "O'Brien", "2012-03-15", "B801200005001"):
        assert secret not in text
    assert WONDE_TOKEN not in repr(conn)


def test_missing_token_is_misconfigured() -> None:
    with pytest.raises(MisFetchError) as info:
        WondeConnector(client_for(roster()), WONDE_BASE, "S1", {})
    assert info.value.code == "misconfigured"


async def test_relative_next_links_and_group_includes_without_type() -> None:
    """A ``next`` relative to the page, and a student's ``groups`` include that leaves out ``type``: the
    registration groups are known from the groups list, so their members are still placed."""
    fake = roster()

    def relative_and_typeless(resource: str, page: int, body: dict[str, Any]) -> dict[str, Any]:
        nxt = body["meta"]["pagination"]["next"]
        if nxt:
            body["meta"]["pagination"]["next"] = nxt.split("/v1.0", 1)[1].replace("/schools/S1/", "", 1)
        if resource == "students":
            for student in body["data"]:
                for group in student.get("groups", {}).get("data", []):
                    group.pop("type", None)
        return body

    fake.tamper = relative_and_typeless
    by_id = {p.mis_id: p for p in await all_pupils(connector(fake))}
    assert len(by_id) == 5
    assert by_id["S1"].group_ids == ("G7A",)  # the house and year groups (not in the list) are still left out
    assert by_id["S4"].group_ids == ("GOAK",)
