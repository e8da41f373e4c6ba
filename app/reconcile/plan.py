"""Build a sync plan: one item per MIS pupil, plus our pupils the MIS no longer has. Pure, no I/O.

The rules are DOMAIN.md "Matching", applied in this order (each MIS pupil takes the first that fits):

1. Same MIS id: ``synced`` (or ``resynced`` when our pupil is desynced).
2. A remembered *confirm* of (MIS id, pupil) whose pupil is still unlinked: ``matched``
   ("confirmed by coordinator"). A pupil or MIS id confirmed more than once is left to the rules below.
3. Strong evidence (valid UPN, or legal or preferred full name + date of birth) against our unlinked
   pupils and against *linked pupils whose MIS id is missing from this answer* (an MIS change: the
   item is a re-link, its reasons start with "mis id changed: "): ``matched`` when there is exactly
   one such candidate and no other MIS pupil claims it with equal or greater strength; otherwise the
   item is ``may_match``.
4. Weak evidence against our still-unclaimed unlinked pupils (close name + DOB, swapped names,
   day/month swap, name + year group without a DOB): ``may_match`` listing every candidate. A close
   name needs *both* forename and surname close, and a pupil whose forename is as close to an MIS
   twin's (same surname and DOB) is not offered to the other twin: twins are never cross-matched.
5. Nothing: ``new``.

Rejected pairs are dropped from every candidate list. Then, for our side: linked ``synced`` pupils
whose MIS id is absent (and not re-linked) get a ``desynced`` item; already-desynced ones get
nothing; unlinked pupils neither matched nor listed as a candidate of a ``may_match`` get a
``not_matched`` item. Each of our pupils is the ``pupil_id`` of at most one ``matched`` item.

Items come in MIS order, then ``desynced`` and ``not_matched`` in roster order.
"""

from __future__ import annotations

import gc
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from itertools import chain

from app.mis.records import MisPupil
from app.reconcile import guard as guard_module
from app.reconcile.matching import (
    REASON_CONFIRMED,
    REASON_SAME_MIS_ID,
    SCORE_CONFIRMED,
    Evidence,
    Found,
    NameProfile,
    Person,
    StrongIndex,
    WeakIndex,
    forename_closeness,
    has_invalid_upn,
    name_profile,
    person,
)
from app.reconcile.names import compact
from app.reconcile.types import (
    COUNT_KEYS,
    Candidate,
    ChangeValue,
    Decisions,
    Plan,
    PlanItem,
    Reports,
    RosterPupil,
)
from app.reconcile.upn import normalise_upn, valid_upn

Changes = dict[str, tuple[ChangeValue, ChangeValue]]

#: Tags whose non-empty ``changes`` count as ``updated``.
UPDATING_TAGS = frozenset({"synced", "resynced", "matched"})


def target_class(mis: MisPupil, class_for_group: Mapping[str, uuid.UUID]) -> uuid.UUID | None:
    """Our class for ``mis``: the class mapped to its set-up registration group. A pupil in two set-up
    groups (rare; e.g. last year's and this year's homeroom both live) goes by the smallest group id, so
    the choice does not follow the MIS's listing order and a pupil never bounces between classes."""
    chosen: uuid.UUID | None = None
    chosen_group = ""
    for group_id in mis.group_ids:
        class_id = class_for_group.get(group_id)
        if class_id is not None and (chosen is None or group_id < chosen_group):
            chosen, chosen_group = class_id, group_id
    return chosen


def compute_changes(
    pupil: RosterPupil,
    mis: MisPupil,
    class_for_group: Mapping[str, uuid.UUID],
    mis_upn: str | None,
) -> Changes:
    """What updating ``pupil`` from ``mis`` would change, as ``{field: (old, new)}``.

    ``mis_upn`` is the MIS UPN when valid (normalised), else None. A value the MIS leaves empty
    (None or "") is never a change: we keep what we have rather than erase it (OneRoster without the
    demographics permission sends no date of birth, some MIS no legal names, no year group). Nor is
    an invalid MIS UPN ever written. ``class_id`` compares our MIS-managed class with
    :func:`target_class`.
    """
    # Straight-line comparisons: this runs once per MIS pupil, 100,000 times in a big school.
    changes: Changes = {}
    if mis.forename and mis.forename != pupil.forename:
        changes["forename"] = (pupil.forename, mis.forename)
    if mis.surname and mis.surname != pupil.surname:
        changes["surname"] = (pupil.surname, mis.surname)
    if mis.legal_forename and mis.legal_forename != pupil.legal_forename:
        changes["legal_forename"] = (pupil.legal_forename, mis.legal_forename)
    if mis.legal_surname and mis.legal_surname != pupil.legal_surname:
        changes["legal_surname"] = (pupil.legal_surname, mis.legal_surname)
    if mis.date_of_birth is not None and mis.date_of_birth != pupil.date_of_birth:
        changes["date_of_birth"] = (pupil.date_of_birth, mis.date_of_birth)
    if mis_upn is not None and mis_upn != pupil.upn:
        changes["upn"] = (pupil.upn, mis_upn)
    if mis.year_group and mis.year_group != pupil.year_group:
        changes["year_group"] = (pupil.year_group, mis.year_group)
    class_id = target_class(mis, class_for_group)
    if class_id is not None and class_id != pupil.mis_class_id:
        changes["class_id"] = (pupil.mis_class_id, class_id)
    return changes


def _ranked(found: Found) -> list[Evidence]:
    """Evidence best first; ties in a stable order (pupil id) so plans are reproducible."""
    if len(found) == 1:
        return list(found.values())
    return sorted(found.values(), key=lambda ev: (-ev.score, str(ev.person.pupil.id)))


def _candidates(ranked: list[Evidence]) -> list[Candidate]:
    return [Candidate(ev.person.pupil.id, round(ev.score, 3), list(ev.reasons)) for ev in ranked]


def _index_unique_mis(mis: list[MisPupil]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, m in enumerate(mis):
        if m.mis_id in index:
            raise ValueError(f"duplicate MIS id in the MIS answer: {m.mis_id}")
        index[m.mis_id] = i
    return index


def _index_linked(roster: list[RosterPupil]) -> dict[str, RosterPupil]:
    linked: dict[str, RosterPupil] = {}
    for p in roster:
        if p.mis_id is not None:
            if p.mis_id in linked:
                raise ValueError(f"MIS id {p.mis_id} is linked to two pupils: {linked[p.mis_id].id}, {p.id}")
            linked[p.mis_id] = p
    return linked


def _confirmed_pairs(
    decisions: Decisions,
    mis_index: Mapping[str, int],
    open_mis: set[int],
    unlinked: Iterable[Person],
) -> dict[int, Person]:
    """Confirmed pairs that can be linked now: MIS pupil still open, pupil unlinked, both unique."""
    if not decisions.confirmed:
        return {}
    by_id = {p.pupil.id: p for p in unlinked}
    usable = [
        (mis_index[mid], pid)
        for mid, pid in decisions.confirmed - decisions.rejected
        if mid in mis_index and mis_index[mid] in open_mis and pid in by_id
    ]
    per_mis = Counter(i for i, _ in usable)
    per_pupil = Counter(pid for _, pid in usable)
    return {i: by_id[pid] for i, pid in usable if per_mis[i] == 1 and per_pupil[pid] == 1}


class _Twins:
    """MIS pupils sharing a surname and date of birth (twins, triplets), found lazily.

    Weak evidence may not propose one of our pupils for an MIS twin when the pupil's forename is at
    least as close to the *other* twin's: "Jan Smith" is not offered "Jon Smith" when the MIS also
    has a Jon Smith born the same day. Same-name evidence is unaffected (a twin has another name).
    """

    def __init__(self, mis: list[MisPupil]) -> None:
        self._mis = mis
        self._groups: dict[tuple[str, date], list[int]] | None = None
        self._profiles: dict[int, NameProfile] = {}

    def _siblings(self, i: int) -> list[int]:
        m = self._mis[i]
        if m.date_of_birth is None:
            return []
        if self._groups is None:
            self._groups = defaultdict(list)
            for j, other in enumerate(self._mis):
                if other.date_of_birth is not None:
                    self._groups[compact(other.surname), other.date_of_birth].append(j)
        return [j for j in self._groups.get((compact(m.surname), m.date_of_birth), ()) if j != i]

    def _profile(self, j: int) -> NameProfile:
        if j not in self._profiles:
            m = self._mis[j]
            self._profiles[j] = name_profile(m.forename, m.surname, m.legal_forename, m.legal_surname)
        return self._profiles[j]

    def without_their_pupils(self, i: int, profile: NameProfile, found: Found) -> Found:
        if not found:
            return found
        siblings = self._siblings(i)
        if not siblings:
            return found
        kept: Found = {}
        for n, ev in found.items():
            own = forename_closeness(profile, ev.person.profile)
            if all(forename_closeness(self._profile(j), ev.person.profile) < own for j in siblings):
                kept[n] = ev
        return kept


def _without_rejected(found: Found, mis_id: str, rejected: frozenset[tuple[str, uuid.UUID]]) -> Found:
    if not rejected:
        return found
    return {n: ev for n, ev in found.items() if (mis_id, ev.person.pupil.id) not in rejected}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of a plan.

    A plan allocates a few hundred thousand small objects; every burst of allocations triggers
    collections that rescan the (large, long-lived) heap of roster and MIS records, which roughly
    doubles planning time at 100,000 pupils. The planner creates no reference cycles, so reference
    counting frees everything anyway; the collector is restored (if it was on) even on error.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_plan(
    roster: Iterable[RosterPupil],
    mis_pupils: Iterable[MisPupil],
    class_for_group: Mapping[str, uuid.UUID],
    decisions: Decisions | None = None,
    *,
    fetch_complete: bool = True,
    group_count: int | None = None,
    desync_threshold: float = guard_module.DEFAULT_DESYNC_THRESHOLD,
    hold_new_year: bool = False,
) -> Plan:
    """The plan for syncing ``roster`` (our pupils, none pending deletion) with ``mis_pupils``.

    ``mis_pupils`` are the pupils of the set-up registration groups (and chosen year groups), with
    unique MIS ids; ``class_for_group`` maps those groups' MIS ids to our classes. ``group_count`` is
    the number of set-up groups in the MIS answer (default: ``len(class_for_group)``) and, with
    ``fetch_complete``, feeds the guard (see :mod:`app.reconcile.guard`); ``hold_new_year`` (apply
    mode) makes the guard hold the first plan of a new academic year.

    Raises ValueError when MIS ids repeat in ``mis_pupils`` or one MIS id is linked to two pupils:
    both are broken inputs that no plan should be built on.
    """
    with _collector_paused():
        return _build_plan(
            list(roster),
            list(mis_pupils),
            class_for_group,
            decisions or Decisions(),
            fetch_complete=fetch_complete,
            group_count=len(class_for_group) if group_count is None else group_count,
            desync_threshold=desync_threshold,
            hold_new_year=hold_new_year,
        )


def _build_plan(
    roster: list[RosterPupil],
    mis: list[MisPupil],
    class_for_group: Mapping[str, uuid.UUID],
    decisions: Decisions,
    *,
    fetch_complete: bool,
    group_count: int,
    desync_threshold: float,
    hold_new_year: bool = False,
) -> Plan:
    rejected = decisions.rejected
    mis_index = _index_unique_mis(mis)
    linked = _index_linked(roster)

    mis_upns = [valid_upn(m.upn) for m in mis]
    results: list[PlanItem | None] = [None] * len(mis)

    # Rule 1: same MIS id.
    for i, m in enumerate(mis):
        p = linked.get(m.mis_id)
        if p is not None:
            results[i] = PlanItem(
                tag="resynced" if p.sync_status == "desynced" else "synced",
                mis=m,
                pupil_id=p.id,
                candidates=[Candidate(p.id, 1.0, [REASON_SAME_MIS_ID])],
                changes=compute_changes(p, m, class_for_group, mis_upns[i]),
            )
    open_mis = {i for i, r in enumerate(results) if r is None}

    # Candidate pools: unlinked pupils (rules 2-3) and linked pupils whose MIS id vanished (rule 8).
    # Pupils are keyed by roster position (Person.n) inside the run: ints hash far faster than UUIDs.
    unlinked = [person(n, p) for n, p in enumerate(roster) if p.mis_id is None]
    orphans = [
        person(n, p, relink=True) for n, p in enumerate(roster) if p.mis_id is not None and p.mis_id not in mis_index
    ]
    claimed: set[int] = set()
    relinked: set[int] = set()

    def settle_match(i: int, ev: Evidence) -> None:
        p = ev.person
        claimed.add(p.n)
        if p.relink:
            relinked.add(p.n)
        results[i] = PlanItem(
            tag="matched",
            mis=mis[i],
            pupil_id=p.pupil.id,
            candidates=_candidates([ev]),
            changes=compute_changes(p.pupil, mis[i], class_for_group, mis_upns[i]),
        )

    # Rule 5 (confirm): remembered decisions come before any evidence.
    for i, chosen in _confirmed_pairs(decisions, mis_index, open_mis, unlinked).items():
        settle_match(i, Evidence(chosen, SCORE_CONFIRMED, [REASON_CONFIRMED]))
        open_mis.discard(i)

    # Rules 2 and 8: strong evidence, then claims resolved so no pupil is matched twice.
    profiles: dict[int, NameProfile] = {}
    strong: dict[int, Found] = {}
    claims: dict[int, list[float]] = defaultdict(list)
    strong_index = StrongIndex(chain((p for p in unlinked if p.n not in claimed), orphans))
    for i in sorted(open_mis):
        m = mis[i]
        profiles[i] = name_profile(m.forename, m.surname, m.legal_forename, m.legal_surname)
        found = _without_rejected(strong_index.evidence(profiles[i], m.date_of_birth, mis_upns[i]), m.mis_id, rejected)
        if found:
            strong[i] = found
            for n, ev in found.items():
                claims[n].append(ev.score)
    for i, found in strong.items():
        if len(found) == 1:
            ((n, ev),) = found.items()
            scores = claims[n]
            # Matched only when no other MIS pupil claims this pupil as strongly.
            if len(scores) == 1 or (ev.score == max(scores) and scores.count(ev.score) == 1):
                settle_match(i, ev)
                open_mis.discard(i)

    # Rules 3 and 4: weak evidence among unlinked pupils nobody has claimed; may_match or new.
    weak_index = WeakIndex(p for p in unlinked if p.n not in claimed)
    twins = _Twins(mis)
    proposed: set[int] = set()
    for i in sorted(open_mis):
        m = mis[i]
        found = {n: ev for n, ev in strong.get(i, {}).items() if n not in claimed}
        weak = weak_index.evidence(profiles[i], m.date_of_birth, m.year_group)
        weak = twins.without_their_pupils(i, profiles[i], _without_rejected(weak, m.mis_id, rejected))
        for n, ev in weak.items():
            if n in found:
                for reason in ev.reasons:
                    found[n].add(ev.score, reason)
            else:
                found[n] = ev
        if not found:
            results[i] = PlanItem(tag="new", mis=m, pupil_id=None)
            continue
        ranked = _ranked(found)
        best = ranked[0].person.pupil
        proposed.update(found)
        results[i] = PlanItem(
            tag="may_match",
            mis=m,
            pupil_id=best.id,
            candidates=_candidates(ranked),
            changes=compute_changes(best, m, class_for_group, mis_upns[i]),
        )

    items: list[PlanItem] = [r for r in results if r is not None]
    # Rule 7: our side. Desynced pupils keep class and year group, so a desynced item has no changes.
    for n, p in enumerate(roster):
        if p.mis_id is not None:
            if p.sync_status == "synced" and p.mis_id not in mis_index and n not in relinked:
                items.append(PlanItem(tag="desynced", mis=None, pupil_id=p.id))
        elif n not in claimed and n not in proposed:
            items.append(PlanItem(tag="not_matched", mis=None, pupil_id=p.id))

    counts = count_items(items)
    pool = chain(unlinked, orphans)
    upn_counts = Counter(u for u in mis_upns if u is not None)
    reports = Reports(
        invalid_upn_mis_ids=tuple(
            m.mis_id for m, u in zip(mis, mis_upns, strict=True) if u is None and normalise_upn(m.upn)
        ),
        invalid_upn_pupil_ids=tuple(p.pupil.id for p in pool if has_invalid_upn(p)),
        shared_upn_mis_ids=tuple(
            m.mis_id for m, u in zip(mis, mis_upns, strict=True) if u is not None and upn_counts[u] > 1
        ),
    )
    verdict = guard_module.assess(
        items,
        roster,
        mis_count=len(mis),
        group_count=group_count,
        fetch_complete=fetch_complete,
        threshold=desync_threshold,
        hold_new_year=hold_new_year,
    )
    return Plan(items=items, counts=counts, guard=verdict, reports=reports)


def count_items(items: Iterable[PlanItem]) -> dict[str, int]:
    """Counts for every key of :data:`COUNT_KEYS`.

    Each tag counts its items; ``updated`` counts the ``synced``, ``resynced`` and ``matched`` items
    whose ``changes`` is non-empty.
    """
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for item in items:
        counts[item.tag] += 1
        if item.changes and item.tag in UPDATING_TAGS:
            counts["updated"] += 1
    return counts
