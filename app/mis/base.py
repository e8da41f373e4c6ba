"""The connector contract every MIS provider implements, its one error type and shared helpers.

A connector reads one school's roster from one MIS and returns normalised records
(:mod:`app.mis.records`). It never writes anything and never decides anything: the sync job
matches and plans. What it guarantees:

* ``registration_groups()`` returns every live registration (form/tutor) group of the school,
  other group types left out.
* ``pupils()`` yields the school's live pupils page by page. ``MisPupil.group_ids`` holds the
  MIS ids of registration groups only. A fetch is complete or it fails: any answer the
  connector cannot trust (no envelope, a page that ends early, duplicate ids, a malformed
  record) raises :class:`MisFetchError` with code ``bad_response``, so a partial roster is never
  mistaken for a whole one.
* ``notes`` collects non-fatal warnings for the job (ids and counts only).

Normalisation shared by all providers: names are stripped strings; ``upn`` is upper-cased and
stripped (validity is checked when matching, see :mod:`app.reconcile.upn`); ``gender`` is
``"male"``, ``"female"`` or the MIS value lower-cased (Wonde sends ``MALE``/``M``, OneRoster
``male``); ``year_group`` is canonical (:mod:`app.year_groups`) or None.

Privacy: nothing here logs or raises with pupil names, dates of birth or credentials. Error
details name record ids, pages and counts only.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Literal, Protocol, get_args, runtime_checkable

from app import year_groups
from app.mis.records import FetchNotes, MisGroup, MisPupil

ErrorCode = Literal[
    "credentials_rejected",  # 401/403 from the MIS or its token endpoint
    "unavailable",  # 5xx, connection errors or timeouts, still failing after the retries
    "rate_limited",  # 429 asking us to wait longer than we are willing to, or for too long
    "bad_response",  # a 200 we cannot trust (envelope, paging, duplicate ids, malformed record)
    "not_found",  # 404: the school (or endpoint) does not exist at this MIS
    "bad_request",  # another 4xx: the MIS refused the request itself (e.g. a bad filter)
    "misconfigured",  # the connection settings are incomplete or invalid
]

ERROR_CODES: frozenset[str] = frozenset(get_args(ErrorCode))


class MisFetchError(Exception):
    """A fetch from the MIS failed. ``code`` is machine readable, ``detail`` is for people.

    ``status`` is the HTTP status that caused it, if any. The sync job turns this into the
    job's problem object; ``detail`` is safe to show (ids and counts, never pupil data or
    secrets).
    """

    def __init__(self, code: ErrorCode, detail: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: ErrorCode = code
        self.detail = detail
        self.status = status

    def __repr__(self) -> str:
        return f"MisFetchError(code={self.code!r}, detail={self.detail!r}, status={self.status!r})"


@runtime_checkable
class MisConnector(Protocol):
    """One school's MIS, read only. Implementations: Wonde and OneRoster 1.2."""

    #: "wonde" or "oneroster"; used in logs and as the provider of stored MIS ids.
    provider: str
    #: Non-fatal warnings of the last fetch (e.g. no permission to read dates of birth).
    notes: FetchNotes

    async def registration_groups(self) -> list[MisGroup]:
        """Every live registration group of the school. Raises MisFetchError."""
        ...

    def pupils(self) -> AsyncIterator[list[MisPupil]]:
        """The school's live pupils, one list per MIS page. Raises MisFetchError mid-iteration."""
        ...


def bad_record(kind: str, record_id: object, problem: str, page: int) -> MisFetchError:
    """A ``bad_response`` error for one record: names the id and page, never the content."""
    rid = record_id if isinstance(record_id, str) and record_id else "(no id)"
    return MisFetchError("bad_response", f"{kind} {rid} on page {page}: {problem}")


def opt_str(value: object, field: str) -> str | None:
    """A stripped non-empty string, None for None/empty. Raises TypeError naming ``field``."""
    if type(value) is str:  # the common case first: this runs several times per record
        value = value.strip()
        return value or None
    if value is None:
        return None
    raise TypeError(f"{field} is not a string")


def parse_date(value: str, field: str) -> date:
    """``YYYY-MM-DD`` at the start of ``value`` (Wonde adds a time, OneRoster may too).

    Raises ValueError naming ``field`` but not the value (a date of birth is personal data).
    """
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ValueError(f"{field} is not a valid date") from None


_GENDERS = {"m": "male", "male": "male", "f": "female", "female": "female"}


def normalise_gender(value: str | None) -> str | None:
    """``male``/``female`` for the usual codes, otherwise the value lower-cased."""
    if value is None:
        return None
    low = value.lower()
    return _GENDERS.get(low, low)


def normalise_upn(value: str | None) -> str | None:
    """Upper-cased and without spaces, as records.MisPupil promises; None when empty."""
    if value is None:
        return None
    upn = value.replace(" ", "").upper()
    return upn or None


# A group name that starts with its year: "7A", "11X2", "Y7 Blue", "Year 10-3", "10/Ma".
_LEADING_YEAR = re.compile(r"^(?:y(?:ea)?r?\s*)?0*(\d{1,2})(?!\d)", re.IGNORECASE)
# Reception and nursery forms: "R", "R1", "RB", "Rec Oak", "Reception", "N1", "N2A", "Nursery".
# "R" takes at most one more letter so that "Robins" or "Red" are not read as Reception.
_EARLY_YEARS = re.compile(
    r"^(?:(?P<rec>rec(?:eption)?\b|r(?:[a-z]?$|[\d\s/_-]))"
    r"|(?P<n>n(?:ursery)?\s*(?P<nn>[12])(?!\d)|nursery\b))",
    re.IGNORECASE,
)


def year_from_group_label(*labels: str | None) -> str | None:
    """The year group a registration group's name (or code, or description) implies, or None.

    Tries each label in turn: first as a whole year group ("Year 7", "R", "N1"), then by its
    leading characters ("7A" -> Year 7, "R1" -> Reception, "N2B" -> Nursery 2). Names that do
    not start with a year ("Oak", "Robins") give None: the sync then uses the pupils' own year.
    """
    for label in labels:
        if not label:
            continue
        label = label.strip()
        whole = year_groups.parse(label)
        if whole is not None:
            return whole
        m = _LEADING_YEAR.match(label)
        if m:
            found = year_groups.parse(m.group(1))
            if found is not None:
                return found
            continue
        m = _EARLY_YEARS.match(label)
        if m:
            if m.group("rec"):
                return year_groups.RECEPTION
            return year_groups.NURSERY_1 if m.group("nn") == "1" else year_groups.NURSERY_2
    return None


__all__ = [
    "ERROR_CODES",
    "ErrorCode",
    "FetchNotes",
    "MisConnector",
    "MisFetchError",
    "MisGroup",
    "MisPupil",
    "bad_record",
    "normalise_gender",
    "normalise_upn",
    "opt_str",
    "parse_date",
    "year_from_group_label",
]
