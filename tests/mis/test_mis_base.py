"""Shared parsing: year groups from group names, OneRoster grade codes, dates, genders."""

from __future__ import annotations

import pytest

from app import year_groups
from app.mis.base import MisFetchError, normalise_gender, normalise_upn, parse_date, year_from_group_label


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (("7A",), "Year 7"),
        (("11X2",), "Year 11"),
        (("07B",), "Year 7"),
        (("Y7 Blue",), "Year 7"),
        (("Year 10-3",), "Year 10"),
        (("10/Ma",), "Year 10"),
        (("13Q",), "Year 13"),
        (("R",), "Reception"),
        (("R1",), "Reception"),
        (("RA",), "Reception"),
        (("Rec Oak",), "Reception"),
        (("N1A",), "Nursery 1"),
        (("N2",), "Nursery 2"),
        (("Nursery",), "Nursery 2"),
        (("Robins",), None),  # a name, not Reception
        (("Red",), None),
        (("Oak",), None),
        (("15A",), None),
        (("Oak", None, "Year 3 Oak"), "Year 3"),  # falls through to the next label
        (("Oak", "3O"), "Year 3"),
        ((None, ""), None),
    ],
)
def test_year_from_group_label(labels: tuple[str | None, ...], expected: str | None) -> None:
    assert year_from_group_label(*labels) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [("PK", "Nursery 2"), ("KG", "Reception"), ("TK", "Reception"), ("07", "Year 7"), ("N1", "Nursery 1")],
)
def test_year_groups_accepts_oneroster_codes(code: str, expected: str) -> None:
    assert year_groups.parse(code) == expected


def test_parse_date_names_the_field_not_the_value() -> None:
    assert str(parse_date("2012-03-15 00:00:00.000000", "dob")) == "2012-03-15"
    with pytest.raises(ValueError) as info:
        parse_date("2012-13-45", "date_of_birth")
    assert "2012" not in str(info.value) and "date_of_birth" in str(info.value)


def test_normalisers() -> None:
    assert normalise_gender("MALE") == "male" and normalise_gender("F") == "female"
    assert normalise_gender("Other") == "other" and normalise_gender(None) is None
    assert normalise_upn(" b801 200005001") == "B801200005001" and normalise_upn("") is None


def test_error_carries_code_detail_status() -> None:
    err = MisFetchError("unavailable", "down", 503)
    assert (err.code, err.detail, err.status) == ("unavailable", "down", 503)
    assert "unavailable" in str(err)
