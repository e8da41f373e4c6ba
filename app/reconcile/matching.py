"""Evidence that an MIS pupil and one of ours are the same person: indexes, scores and reasons.

Nothing here compares every MIS pupil with every one of ours. Strong evidence (DOMAIN.md Matching,
rule 2) is found by dictionary lookups on a valid UPN and on (full-name key, date of birth). Weak
evidence (rule 3) is looked for only among the pupils still unclaimed after that, bucketed by date of
birth for the close-name test and by (name key, year group) for the no-date-of-birth rule, so the
fuzzy comparisons are few (a DOB bucket holds a handful of pupils).

Scores (0..1). Strong evidence scores at least :data:`STRONG_MIN`; only strong evidence can make a
``matched`` item, and "equal strength" between two claims on one pupil means equal score.

==============================================  =====
confirmed by the coordinator                    1.00
same UPN, and same name and date of birth       1.00
same UPN                                        0.95
same (legal or preferred) name and DOB          0.90
forename and surname swapped, same DOB          0.80
close name, same DOB                            0.60 + 0.20 * similarity (about 0.73 .. 0.79)
same name, day and month of birth swapped       0.70
same name and year group, a DOB missing         0.60
==============================================  =====

``similarity`` is the mean of the forename and surname similarities, each ``1 - edits / length``
(0.8 for a short form or one part of a double-barrelled surname).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from app.reconcile.names import compact, edit_limit, normalise, osa_distance
from app.reconcile.types import RosterPupil
from app.reconcile.upn import normalise_upn, valid_upn

SCORE_CONFIRMED = 1.0
SCORE_UPN_AND_NAME_DOB = 1.0
SCORE_UPN = 0.95
SCORE_NAME_DOB = 0.9
#: The least score of strong evidence.
STRONG_MIN = SCORE_NAME_DOB
SCORE_SWAPPED_NAMES = 0.8
SCORE_CLOSE_NAME_BASE = 0.6
SCORE_CLOSE_NAME_SPREAD = 0.2
SCORE_DAY_MONTH_SWAP = 0.7
SCORE_NAME_YEAR_NO_DOB = 0.6
#: Similarity credited to a short form ("Alex" for "Alexander") or one part of a double-barrelled surname.
PARTIAL_NAME_SIMILARITY = 0.8
#: A forename counts as a short form of another from this many letters.
SHORT_FORM_MIN = 3

REASON_CONFIRMED = "confirmed by coordinator"
REASON_SAME_MIS_ID = "same MIS id"
REASON_SAME_UPN = "same UPN"
#: Prefix of the reasons of a re-link: a linked pupil whose MIS id is gone from the MIS answer.
REASON_MIS_ID_CHANGED = "mis id changed: "


class NameProfile(NamedTuple):
    """The normalised names of one person, ready for lookups and comparisons.

    ``keys`` are the full-name keys of every combination of preferred and legal forename and surname;
    ``forenames`` and ``surnames`` the distinct compact variants; ``spaced_surnames`` the same
    surnames with their word breaks kept (aligned with ``surnames``), for double-barrelled surnames.
    (A NamedTuple rather than a dataclass: one is built per pupil on both sides, and this is cheaper.)
    """

    preferred_key: str
    legal_key: str
    keys: tuple[str, ...]
    forenames: tuple[str, ...]
    surnames: tuple[str, ...]
    spaced_surnames: tuple[str, ...]


def name_profile(forename: str, surname: str, legal_forename: str | None, legal_surname: str | None) -> NameProfile:
    """The :class:`NameProfile` of a person; a missing legal name part falls back to the preferred one."""
    fore = compact(forename)
    spaced = normalise(surname)
    sur = spaced.replace(" ", "")
    key = f"{fore}|{sur}"
    if not legal_forename and not legal_surname:  # the common case, kept fast
        return NameProfile(key, key, (key,), (fore,), (sur,), (spaced,))
    legal_fore = compact(legal_forename or forename)
    legal_spaced = normalise(legal_surname or surname)
    legal_sur = legal_spaced.replace(" ", "")
    forenames = (fore,) if legal_fore == fore else (fore, legal_fore)
    surnames, spaced_surnames = ((sur,), (spaced,)) if legal_sur == sur else ((sur, legal_sur), (spaced, legal_spaced))
    return NameProfile(
        preferred_key=key,
        legal_key=f"{legal_fore}|{legal_sur}",
        keys=tuple(f"{f}|{s}" for f in forenames for s in surnames),
        forenames=forenames,
        surnames=surnames,
        spaced_surnames=spaced_surnames,
    )


@dataclass(slots=True)
class Person:
    """One of our pupils in a candidate pool.

    ``n`` identifies the pupil within one planning run (its roster position: cheaper to hash than a
    UUID); ``relink``: the pupil is linked, but its MIS id is gone from the answer (rule 8).
    """

    n: int
    pupil: RosterPupil
    profile: NameProfile
    upn: str | None  # valid and normalised, else None
    relink: bool = False


def person(n: int, pupil: RosterPupil, *, relink: bool = False) -> Person:
    """A :class:`Person` for ``pupil`` (roster position ``n``), its UPN kept only when valid."""
    profile = name_profile(pupil.forename, pupil.surname, pupil.legal_forename, pupil.legal_surname)
    return Person(n, pupil, profile, valid_upn(pupil.upn), relink)


def has_invalid_upn(p: Person) -> bool:
    """Whether the pupil carries a UPN that failed the check (so it is being ignored)."""
    return p.upn is None and normalise_upn(p.pupil.upn) is not None


@dataclass(slots=True)
class Evidence:
    """Accumulated evidence for one candidate: the best score seen and every distinct reason."""

    person: Person
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)

    def add(self, score: float, reason: str) -> None:
        if score > self.score:
            self.score = score
        if reason not in self.reasons:
            self.reasons.append(reason)


#: Evidence per candidate, keyed by :attr:`Person.n`.
Found = dict[int, Evidence]


def _note(found: Found, p: Person, score: float, reason: str) -> None:
    ev = found.get(p.n)
    if ev is None:
        ev = found[p.n] = Evidence(p)
    ev.add(score, reason)


def _name_label(mis: NameProfile, ours: NameProfile) -> str:
    if mis.preferred_key == ours.preferred_key:
        return "preferred name"
    if mis.legal_key == ours.legal_key:
        return "legal name"
    return "name (legal on one side, preferred on the other)"


class StrongIndex:
    """Our pupils by valid UPN and by (full-name key, date of birth): rule 2 and rule 8 lookups."""

    def __init__(self, people: Iterable[Person]) -> None:
        self.by_upn: dict[str, list[Person]] = defaultdict(list)
        self.by_key_dob: dict[tuple[str, date], list[Person]] = defaultdict(list)
        for p in people:
            if p.upn is not None:
                self.by_upn[p.upn].append(p)
            dob = p.pupil.date_of_birth
            if dob is not None:
                for key in p.profile.keys:
                    self.by_key_dob[key, dob].append(p)

    def evidence(self, profile: NameProfile, dob: date | None, upn: str | None) -> Found:
        """Strong evidence for an MIS pupil (``upn`` valid and normalised, or None)."""
        found: Found = {}
        if upn is not None:
            for p in self.by_upn.get(upn, ()):
                _note(found, p, SCORE_UPN, _prefixed(p, REASON_SAME_UPN))
        if dob is not None:
            for key in profile.keys:
                for p in self.by_key_dob.get((key, dob), ()):
                    label = _name_label(profile, p.profile)
                    score = SCORE_UPN_AND_NAME_DOB if p.n in found else SCORE_NAME_DOB
                    _note(found, p, score, _prefixed(p, f"same {label} and date of birth"))
        return found


def _prefixed(p: Person, reason: str) -> str:
    return REASON_MIS_ID_CHANGED + reason if p.relink else reason


class WeakIndex:
    """Our still-unclaimed pupils by date of birth, by (name key, DOB) and by (name key, year group)."""

    def __init__(self, people: Iterable[Person]) -> None:
        self.by_dob: dict[date, list[Person]] = defaultdict(list)
        self.by_key_dob: dict[tuple[str, date], list[Person]] = defaultdict(list)
        self.by_key_year: dict[tuple[str, str], list[Person]] = defaultdict(list)
        for p in people:
            dob = p.pupil.date_of_birth
            if dob is not None:
                self.by_dob[dob].append(p)
                for key in p.profile.keys:
                    self.by_key_dob[key, dob].append(p)
            if p.pupil.year_group is not None:
                for key in p.profile.keys:
                    self.by_key_year[key, p.pupil.year_group].append(p)

    def evidence(self, profile: NameProfile, dob: date | None, year_group: str | None) -> Found:
        """Weak evidence (rule 3) for an MIS pupil."""
        found: Found = {}
        if dob is not None:
            for p in self.by_dob.get(dob, ()):
                close = close_name(profile, p.profile)
                if close is not None:
                    _note(found, p, *close)
            swapped = swap_day_month(dob)
            if swapped is not None:
                for key in profile.keys:
                    for p in self.by_key_dob.get((key, swapped), ()):
                        _note(found, p, SCORE_DAY_MONTH_SWAP, "same name, day and month of birth swapped")
        if year_group is not None:
            for key in profile.keys:
                for p in self.by_key_year.get((key, year_group), ()):
                    if dob is None or p.pupil.date_of_birth is None:
                        _note(
                            found,
                            p,
                            SCORE_NAME_YEAR_NO_DOB,
                            "same name and year group, no date of birth to compare",
                        )
        return found


def swap_day_month(dob: date) -> date | None:
    """``dob`` with day and month exchanged, or None when that is the same date or no date."""
    if dob.day == dob.month or dob.day > 12:
        return None
    return date(dob.year, dob.day, dob.month)


def _part_similarity(a: str, b: str, *, short_form: bool) -> tuple[float, str] | None:
    """How close two compact name parts are, with a word for why; None when not close."""
    if a == b:
        return 1.0, ""
    longest = max(len(a), len(b))
    limit = edit_limit(min(len(a), len(b)))
    if limit:
        d = osa_distance(a, b, limit)
        if d <= limit:
            return 1.0 - d / longest, f"{d} letter{'s' if d > 1 else ''} different"
    if short_form:
        short, long = (a, b) if len(a) < len(b) else (b, a)
        if len(short) >= SHORT_FORM_MIN and long.startswith(short):
            return PARTIAL_NAME_SIMILARITY, "a short form"
    return None


def _surname_similarity(a: str, a_spaced: str, b: str, b_spaced: str) -> tuple[float, str] | None:
    close = _part_similarity(a, b, short_form=False)
    if close is not None:
        return close
    # "Smith-Jones" vs "Jones": every word of the shorter surname is a word of the longer one.
    a_words, b_words = set(a_spaced.split()), set(b_spaced.split())
    if len(a_words) != len(b_words) and (a_words <= b_words or b_words <= a_words):
        return PARTIAL_NAME_SIMILARITY, "part of a double-barrelled surname"
    return None


def forename_closeness(a: NameProfile, b: NameProfile) -> float:
    """How close the closest forenames of ``a`` and ``b`` are (0 when none is close)."""
    best = 0.0
    for x in a.forenames:
        for y in b.forenames:
            close = _part_similarity(x, y, short_form=True)
            if close is not None and close[0] > best:
                best = close[0]
    return best


def close_name(mis: NameProfile, ours: NameProfile) -> tuple[float, str] | None:
    """Weak name evidence between two people already known to share a date of birth.

    Close means: forename and surname swapped, or *both* parts close (a spelling slip within
    :func:`app.reconcile.names.edit_limit`, a short form of the forename, one part of a
    double-barrelled surname), considering preferred and legal names on both sides. Requiring both
    parts is what keeps twins apart: same surname and birthday, different forename, no candidate.
    Identical names return None (that is strong evidence, found elsewhere).
    """
    for f in mis.forenames:
        for s in mis.surnames:
            if s in ours.forenames and f in ours.surnames and f != s:
                return SCORE_SWAPPED_NAMES, "same date of birth, forename and surname swapped"
    best: tuple[float, str] | None = None
    for mf in mis.forenames:
        for of in ours.forenames:
            fore = _part_similarity(mf, of, short_form=True)
            if fore is None:
                continue
            for ms, ms_spaced in zip(mis.surnames, mis.spaced_surnames, strict=True):
                for os_, os_spaced in zip(ours.surnames, ours.spaced_surnames, strict=True):
                    sur = _surname_similarity(ms, ms_spaced, os_, os_spaced)
                    if sur is None or (fore[0] == 1.0 and sur[0] == 1.0):
                        continue
                    sim = (fore[0] + sur[0]) / 2
                    if best is None or sim > best[0]:
                        parts = [
                            f"forename {fore[1]}" if fore[1] else "",
                            f"surname {sur[1]}" if sur[1] else "",
                        ]
                        best = (sim, "same date of birth, close name: " + ", ".join(p for p in parts if p))
    if best is None:
        return None
    return round(SCORE_CLOSE_NAME_BASE + SCORE_CLOSE_NAME_SPREAD * best[0], 3), best[1]
