"""build_connector: the right connector for a school's MIS connection, or a clear error."""

from __future__ import annotations

from typing import Any

import pytest
from mis_fakes import OR_BASE, OR_CLIENT, WONDE_BASE, FakeOneRoster, FakeWonde, client_for, or_class

from app.mis.base import MisFetchError
from app.mis.factory import build_connector
from app.mis.oneroster import OneRosterConnector
from app.mis.wonde import WondeConnector


async def test_wonde() -> None:
    conn = build_connector(
        {"provider": "wonde", "base_url": WONDE_BASE, "school_ref": "S1", "credentials": {"token": "t"}},
        client_for(FakeWonde()),
    )
    assert isinstance(conn, WondeConnector) and conn.provider == "wonde"


async def test_oneroster_with_grade_map_and_page_size() -> None:
    fake = FakeOneRoster(classes=[or_class("c1", "Oak", grades=["KG"])])
    conn = build_connector(
        {
            "provider": "oneroster",
            "base_url": OR_BASE,
            "school_ref": "org1",
            "credentials": OR_CLIENT,
            "grade_map": {"KG": "Year 1"},
            "page_size": 50,
        },
        client_for(fake),
    )
    assert isinstance(conn, OneRosterConnector)
    assert [g.year_group for g in await conn.registration_groups()] == ["Year 1"]
    assert fake.requests[-1].url.params["limit"] == "50"


@pytest.mark.parametrize(
    ("connection", "why"),
    [
        ({"provider": "sims"}, "unknown MIS provider"),
        ({"provider": "wonde", "base_url": "ftp://x", "school_ref": "S", "credentials": {}}, "base_url"),
        ({"provider": "wonde", "base_url": WONDE_BASE, "school_ref": "", "credentials": {}}, "school_ref"),
        ({"provider": "wonde", "base_url": WONDE_BASE, "school_ref": "S"}, "no credentials"),
        ({"provider": "wonde", "base_url": WONDE_BASE, "school_ref": "S", "credentials": {}}, "no token"),
        ({"provider": "oneroster", "base_url": OR_BASE, "school_ref": "S", "credentials": {"client_id": "c"}}, "lacks"),
    ],
)
def test_incomplete_connections_are_misconfigured(connection: dict[str, Any], why: str) -> None:
    with pytest.raises(MisFetchError) as info:
        build_connector(connection, client_for(FakeWonde()))
    assert info.value.code == "misconfigured" and why in info.value.detail
