"""The data the reconcile step takes and returns: plain frozen dataclasses, no I/O, no ORM.

The sync service turns database rows into :class:`RosterPupil`, calls
:func:`app.reconcile.plan.build_plan`, and stores the :class:`Plan` it gets back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from app.mis.records import MisPupil

Tag = Literal["new", "matched", "may_match", "synced", "resynced", "desynced", "not_matched"]
#: Every tag, in the order items are listed in the public vocabulary (DOMAIN.md "Tags").
TAGS: tuple[Tag, ...] = ("new", "matched", "may_match", "synced", "resynced", "desynced", "not_matched")
#: Keys of :attr:`Plan.counts`: every tag plus ``updated``.
COUNT_KEYS: tuple[str, ...] = (
    "new",
    "matched",
    "may_match",
    "synced",
    "updated",
    "resynced",
    "desynced",
    "not_matched",
)

SyncStatus = Literal["synced", "desynced", "manual"]
GuardKind = Literal["outage", "mass_desync", "mis_change", "rollover"]

#: A value in :attr:`PlanItem.changes`: names and UPN are str, the date of birth a date, the class a UUID.
ChangeValue = str | date | uuid.UUID | None

#: Fields :attr:`PlanItem.changes` may name, in a fixed order.
CHANGE_FIELDS: tuple[str, ...] = (
    "forename",
    "surname",
    "legal_forename",
    "legal_surname",
    "date_of_birth",
    "upn",
    "year_group",
    "class_id",
)


@dataclass(frozen=True, slots=True)
class RosterPupil:
    """One of our pupils as the planner needs it. Pupils pending deletion never get here.

    ``mis_id`` is set for synced and desynced pupils and None for manual ones.
    ``mis_class_id`` is the class of the pupil's MIS-managed membership, if any (hand-made memberships
    are not the sync's business). ``year_group`` is canonical (see ``app.year_groups``).
    """

    id: uuid.UUID
    forename: str
    surname: str
    legal_forename: str | None
    legal_surname: str | None
    date_of_birth: date | None
    upn: str | None
    year_group: str | None
    sync_status: SyncStatus
    mis_id: str | None
    mis_class_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Decisions:
    """A coordinator's remembered decisions, as ``(mis_id, pupil_id)`` pairs.

    ``confirmed`` pairs are linked again on every sync while the pupil is unlinked; ``rejected`` pairs
    are never proposed again. A pair in both sets counts as rejected (the safe reading).
    """

    confirmed: frozenset[tuple[str, uuid.UUID]] = frozenset()
    rejected: frozenset[tuple[str, uuid.UUID]] = frozenset()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One of our pupils proposed for an MIS pupil, with a score in 0..1 and the evidence in words."""

    pupil_id: uuid.UUID
    score: float
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One line of the plan.

    - ``mis``: the MIS pupil (None for ``desynced`` and ``not_matched``).
    - ``pupil_id``: our pupil: the linked one (``synced``, ``resynced``, ``desynced``), the one linking
      would take (``matched``), the best candidate, which a *confirm* links (``may_match``), or the
      manual pupil (``not_matched``). None for ``new``.
    - ``candidates``: best first. ``synced``/``resynced``: the linked pupil ("same MIS id");
      ``matched``: the one pupil; ``may_match``: every candidate; others: empty.
    - ``changes``: ``{field: (old, new)}`` over :data:`CHANGE_FIELDS`, only fields that differ, for
      ``synced``, ``resynced``, ``matched`` and ``may_match`` (relative to ``pupil_id``). Empty for
      ``new`` (the values to create are ``mis`` and :func:`app.reconcile.plan.target_class`),
      ``desynced`` (a desynced pupil keeps its class and year group) and ``not_matched``.
    """

    tag: Tag
    mis: MisPupil | None
    pupil_id: uuid.UUID | None
    candidates: list[Candidate] = field(default_factory=list)
    changes: dict[str, tuple[ChangeValue, ChangeValue]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Guard:
    """The safety guard's verdict. ``held`` plans are never applied without an explicit override.

    ``reason`` is one sentence with numbers and no names; ``numbers`` carries the same figures.
    """

    held: bool
    kind: GuardKind
    reason: str
    numbers: dict[str, int | float]


@dataclass(frozen=True, slots=True)
class Reports:
    """Data problems seen while planning: ids only, never names.

    - ``invalid_upn_mis_ids``: MIS pupils whose UPN fails the DfE check (ignored for matching, never
      written to our records).
    - ``invalid_upn_pupil_ids``: our unlinked pupils (or linked ones whose MIS id vanished) whose UPN
      fails the check, so it was ignored for matching.
    - ``shared_upn_mis_ids``: MIS pupils sharing a valid UPN with another MIS pupil.
    """

    invalid_upn_mis_ids: tuple[str, ...] = ()
    invalid_upn_pupil_ids: tuple[uuid.UUID, ...] = ()
    shared_upn_mis_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """The result of planning: items, counts, the guard's verdict and data reports.

    ``counts`` has every key of :data:`COUNT_KEYS`. Each tag's count is its number of items;
    ``updated`` is the number of ``synced``, ``resynced`` and ``matched`` items whose ``changes`` is
    non-empty (what apply would actually write field changes for). ``guard`` is None when nothing is
    unusual; a rollover is reported with ``held=False``.
    """

    items: list[PlanItem]
    counts: dict[str, int]
    guard: Guard | None
    reports: Reports = field(default_factory=Reports)
