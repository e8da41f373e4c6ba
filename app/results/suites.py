"""The common assessment suites every school has, and their default retention periods."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Suites every school has without adding them (GL Assessment's common suites).
COMMON_SUITES: dict[str, str] = {
    "PTE": "Progress Test in English",
    "PTM": "Progress Test in Maths",
    "PTS": "Progress Test in Science",
    "NGRT": "New Group Reading Test",
    "NGST": "New Group Spelling Test",
    "CAT4": "Cognitive Abilities Test",
    "ART": "Access Reading Test",
    "AMT": "Access Maths Test",
}
#: Years of inactivity after which a suite's results are anonymised, unless the school changes it.
DEFAULT_RETENTION_YEARS = 2
#: Suites whose default differs from ``DEFAULT_RETENTION_YEARS``.
DEFAULT_RETENTION_BY_SUITE: dict[str, int] = {"ART": 3, "AMT": 3}
MIN_RETENTION_YEARS, MAX_RETENTION_YEARS = 1, 25

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_\-]{0,19}$")


def default_years(code: str) -> int:
    """The default retention period of a suite, in calendar years."""
    return DEFAULT_RETENTION_BY_SUITE.get(code, DEFAULT_RETENTION_YEARS)


def normalise_code(value: str) -> str:
    """A suite code in its stored form (upper case); ValueError when it cannot be one."""
    code = value.strip().upper()
    if not _CODE.match(code):
        raise ValueError("a suite code is 1 to 20 letters, digits, '-' or '_' (e.g. 'PTE', 'CAT4')")
    return code


@dataclass(frozen=True, slots=True)
class Suite:
    """A suite as a school has it: common or its own, with its effective retention period."""

    code: str
    name: str | None
    common: bool
    retention_years: int
    default_years: int
