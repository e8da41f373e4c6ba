"""Year groups: one canonical spelling, many accepted ones.

The canonical names are the ones a school sees ("Nursery 1", "Nursery 2", "Reception",
"Year 1" .. "Year 14"). Input accepts those, the MIS codes Wonde uses in ``current_nc_year``
("N1", "N2", "R", "1" .. "14"), "Y7", "year 7" and OneRoster grade codes ("PK", "KG", "01" .. "13").
"""

from __future__ import annotations

import re

NURSERY_1 = "Nursery 1"
NURSERY_2 = "Nursery 2"
RECEPTION = "Reception"

#: Canonical year groups, youngest first. Their index is the year group's rank.
ORDER: tuple[str, ...] = (NURSERY_1, NURSERY_2, RECEPTION, *(f"Year {n}" for n in range(1, 15)))
_RANK = {name: i for i, name in enumerate(ORDER)}

_ALIASES = {
    "n1": NURSERY_1,
    "nursery1": NURSERY_1,
    "n2": NURSERY_2,
    "nursery2": NURSERY_2,
    "nursery": NURSERY_2,
    "r": RECEPTION,
    "rec": RECEPTION,
    "reception": RECEPTION,
    "yr": RECEPTION,
    # OneRoster / CEDS grade codes below Year 1, as UK OneRoster publishers use them.
    "pk": NURSERY_2,  # pre-kindergarten: the year before Reception
    "kg": RECEPTION,
    "tk": RECEPTION,  # transitional kindergarten
}
_NUMBERED = re.compile(r"^(?:y|yr|year)?0*(\d{1,2})$")


def parse(value: str | int | None) -> str | None:
    """The canonical year group for ``value``, or None when it is empty or not a year group."""
    if value is None:
        return None
    key = re.sub(r"[\s_\-]+", "", str(value)).lower()
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    m = _NUMBERED.match(key)
    if m and 1 <= int(m.group(1)) <= 14:
        return f"Year {int(m.group(1))}"
    return None


def rank(year_group: str | None) -> int | None:
    """Position of a canonical year group (Nursery 1 is 0), or None."""
    return None if year_group is None else _RANK.get(year_group)
