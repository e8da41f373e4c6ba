"""Small builders for reconcile tests: readable pupils with sensible defaults."""

from __future__ import annotations

import uuid
from datetime import date

from app.mis.records import MisPupil
from app.reconcile import RosterPupil, SyncStatus
from app.reconcile.upn import check_letter

DOB = date(2012, 3, 15)
GROUP_7A = "g-7a"
GROUP_8A = "g-8a"
CLASS_7A = uuid.UUID(int=0x7A)
CLASS_8A = uuid.UUID(int=0x8A)
CLASSES = {GROUP_7A: CLASS_7A, GROUP_8A: CLASS_8A}


def pid(n: int) -> uuid.UUID:
    """Our pupil number ``n`` as a UUID (readable in failures)."""
    return uuid.UUID(int=n)


def upn(tail: str) -> str:
    """A valid UPN ending in ``tail`` (12 characters)."""
    return check_letter(tail) + tail


def bad_upn(tail: str) -> str:
    """A UPN ending in ``tail`` with a wrong check letter."""
    good = check_letter(tail)
    return ("B" if good == "A" else "A") + tail


def mis(
    mis_id: str,
    forename: str = "Amy",
    surname: str = "Smith",
    *,
    dob: date | None = DOB,
    upn: str | None = None,
    year: str | None = "Year 7",
    groups: tuple[str, ...] = (GROUP_7A,),
    legal_forename: str | None = None,
    legal_surname: str | None = None,
) -> MisPupil:
    return MisPupil(
        mis_id=mis_id,
        forename=forename,
        surname=surname,
        legal_forename=legal_forename,
        legal_surname=legal_surname,
        date_of_birth=dob,
        upn=upn,
        gender=None,
        year_group=year,
        group_ids=groups,
    )


def ours(
    n: int,
    forename: str = "Amy",
    surname: str = "Smith",
    *,
    dob: date | None = DOB,
    upn: str | None = None,
    year: str | None = "Year 7",
    status: SyncStatus = "manual",
    mis_id: str | None = None,
    class_id: uuid.UUID | None = None,
    legal_forename: str | None = None,
    legal_surname: str | None = None,
) -> RosterPupil:
    return RosterPupil(
        id=pid(n),
        forename=forename,
        surname=surname,
        legal_forename=legal_forename,
        legal_surname=legal_surname,
        date_of_birth=dob,
        upn=upn,
        year_group=year,
        sync_status=status,
        mis_id=mis_id,
        mis_class_id=class_id,
    )


def linked(n: int, mis_id: str, forename: str = "Amy", surname: str = "Smith", **kw: object) -> RosterPupil:
    """A synced pupil of ours, linked to ``mis_id`` and in class 7A, matching :func:`mis` defaults."""
    kw.setdefault("status", "synced")
    kw.setdefault("class_id", CLASS_7A)
    return ours(n, forename, surname, mis_id=mis_id, **kw)  # type: ignore[arg-type]
