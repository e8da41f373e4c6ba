"""OneRoster 1.2 ``filter`` expressions: ``field<op>'value'`` joined by `` AND `` or `` OR ``.

Operators ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=`` and ``~`` (contains, case-insensitive), as
in the OneRoster 1.2 REST binding (section "Filtering"). Values are single-quoted. A field may
be dotted into a nested object (``class.sourcedId``); a GUIDRef compares by its ``sourcedId``
and a list field matches when any element does. Date fields (``dateLastModified``,
``birthDate``, ``beginDate``, ``endDate``) compare as instants, so
``dateLastModified>'2026-09-01T00:00:00Z'`` works whatever the precision on either side.
One expression mixes AND and OR? That is refused (the binding allows one kind per filter).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

DATE_FIELDS = frozenset({"dateLastModified", "birthDate", "beginDate", "endDate"})
_CLAUSE = re.compile(r"\s*([A-Za-z][A-Za-z0-9_.]*)\s*(>=|<=|!=|=|>|<|~)\s*'([^']*)'\s*")
_JOIN = re.compile(r"(AND|OR)\b", re.IGNORECASE)

Predicate = Callable[[dict[str, Any]], bool]


class FilterError(ValueError):
    """A filter the server cannot apply. ``code`` is the OneRoster imsx_codeMinor value."""

    def __init__(self, message: str, code: str = "invalid_filter_field") -> None:
        super().__init__(message)
        self.code = code


def parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def lookup(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path; through a list of objects, the list of their values."""
    value: Any = record
    for part in path.split("."):
        if isinstance(value, list):
            value = [v.get(part) for v in value if isinstance(v, dict)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _compare(actual: Any, op: str, wanted: Any) -> bool:
    if actual is None:
        return op == "!="
    if op == "=":
        return bool(actual == wanted)
    if op == "!=":
        return bool(actual != wanted)
    if op == "~":
        return str(wanted).lower() in str(actual).lower()
    if op == ">":
        return bool(actual > wanted)
    if op == ">=":
        return bool(actual >= wanted)
    if op == "<":
        return bool(actual < wanted)
    return bool(actual <= wanted)


def clause(field: str, op: str, raw: str) -> Predicate:
    is_date = field.split(".")[-1] in DATE_FIELDS
    wanted: Any = raw
    if is_date and op != "~":
        try:
            wanted = parse_instant(raw)
        except ValueError:
            raise FilterError(f"{field}: {raw!r} is not a date or date-time", "invaliddata") from None

    def test(record: dict[str, Any]) -> bool:
        value = lookup(record, field)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, dict):
                v = v.get("sourcedId")
            if is_date and op != "~" and isinstance(v, str):
                try:
                    v = parse_instant(v)
                except ValueError:
                    continue
            if _compare(v, op, wanted):
                return True
        return False

    return test


def parse(expression: str, known_fields: frozenset[str]) -> Predicate:
    """A predicate for ``expression``; FilterError for bad syntax or an unknown field."""
    pos = 0
    tests: list[Predicate] = []
    joins: set[str] = set()
    text = expression.strip()
    while True:
        m = _CLAUSE.match(text, pos)
        if m is None:
            raise FilterError(f"cannot read the filter at {text[pos:]!r}")
        field, op, raw = m.groups()
        if field.split(".")[0] not in known_fields:
            raise FilterError(f"unknown filter field {field!r}")
        tests.append(clause(field, op, raw))
        pos = m.end()
        if pos >= len(text):
            break
        j = _JOIN.match(text, pos)
        if j is None:
            raise FilterError(f"expected AND or OR at {text[pos:]!r}")
        joins.add(j.group(1).upper())
        pos = j.end()
    if len(joins) > 1:
        raise FilterError("a filter uses either AND or OR, not both")
    if not joins or joins == {"AND"}:
        return lambda r: all(t(r) for t in tests)
    return lambda r: any(t(r) for t in tests)
