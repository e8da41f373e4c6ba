"""Normalised MIS records: what every connector returns, whatever the wire shape.

These are plain frozen dataclasses so that the reconcile step (pure, no I/O) and the
sync service can share them without importing any HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class MisGroup:
    """A registration (form/tutor) group in the MIS."""

    mis_id: str
    name: str
    year_group: str | None  # canonical, see app.year_groups


@dataclass(frozen=True, slots=True)
class MisPupil:
    """A pupil as the MIS describes them. Names are preferred names; legal_* may equal them."""

    mis_id: str
    forename: str
    surname: str
    legal_forename: str | None
    legal_surname: str | None
    date_of_birth: date | None
    upn: str | None  # as the MIS sent it (upper-cased, stripped); validity is checked when matching
    gender: str | None
    year_group: str | None  # canonical, see app.year_groups
    group_ids: tuple[str, ...] = field(default=())  # registration group MIS ids only


@dataclass(slots=True)
class FetchNotes:
    """What a fetch wants the job to say, without failing it (ids and counts only, never names)."""

    warnings: list[str] = field(default_factory=list)
