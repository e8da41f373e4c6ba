"""A live simulated school: its options, its data, and the changes tests make to it.

Every mutation bumps ``version`` and clears ``cache`` (the providers keep serialised records and
filtered listings there), stamps what it touched with the current UTC time (so ``updated_after``
and ``dateLastModified>`` deltas see it), and is deterministic in everything but timestamps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from app.demo_mis import upn as upn_rule
from app.demo_mis.data import (
    GRADE,
    YEAR_NAME,
    YEARS,
    EndedEnrollment,
    Generator,
    Gone,
    Group,
    Pupil,
    SchoolData,
    form_name,
    generate,
)

MissingInclude = Literal["omit", "null", "empty"]
Demographics = Literal["allowed", "denied", "per_user"]


class ControlError(ValueError):
    """A control request that cannot be done (unknown pupil or group, bad value): a 4xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class SchoolOptions:
    """How a school is generated and served.

    ``wonde_education_details``: False makes Wonde answer the ``education_details`` include as
    a school whose MIS sends none (``wonde_missing_include`` says how: key omitted, ``{"data":
    null}`` or ``{"data": []}``); the year group then only comes from the registration group.
    ``oneroster_demographics``: ``allowed``; ``denied`` (403 on every demographics path);
    ``per_user`` (only ``demographics/{id}``; the list answers 404).
    """

    pupils: int
    seed: int
    wonde_education_details: bool = True
    wonde_missing_include: MissingInclude = "omit"
    oneroster_demographics: Demographics = "allowed"


def now() -> datetime:
    """Current UTC time, truncated to milliseconds (what the wire formats carry)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def parse_year(value: Any) -> str:
    """An NC year code from "7", "Year 7", "R", "Reception", "N1", "Nursery 1"."""
    text = str(value).strip()
    for code, name in YEAR_NAME.items():
        if text.lower() in (code.lower(), name.lower()):
            return code
    raise ControlError(f"unknown year group {value!r}")


def parse_dob(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ControlError(f"date_of_birth must be YYYY-MM-DD, got {value!r}") from None


class School:
    """One school of the simulator. Not thread-safe: the server runs it on one event loop."""

    def __init__(self, ref: str, options: SchoolOptions) -> None:
        self.ref = ref
        self.options = options
        self.version = 0
        self.cache: dict[Any, Any] = {}
        self.data: SchoolData = generate(ref, options.seed, options.pupils)

    # -- bookkeeping --------------------------------------------------------------------------

    def bump(self) -> None:
        """Record a change: serialised pages and filtered listings are stale now."""
        self.version += 1
        self.cache.clear()

    def reset(self, options: SchoolOptions | None = None) -> None:
        """Back to the generated state (optionally with new options)."""
        if options is not None:
            self.options = options
        self.data = generate(self.ref, self.options.seed, self.options.pupils)
        self.bump()

    def set_options(self, options: SchoolOptions) -> None:
        """Change serving options; regenerate only when pupils or seed change."""
        regenerate = (options.pupils, options.seed) != (self.options.pupils, self.options.seed)
        self.options = options
        if regenerate:
            self.data = generate(self.ref, options.seed, options.pupils)
        self.bump()

    def pupil(self, pupil_id: str) -> Pupil:
        found = self.data.pupils.get(pupil_id)
        if found is None:
            raise ControlError(f"no pupil {pupil_id} in school {self.ref}", status=404)
        return found

    def find_group(self, group_id: str | None, name: str | None) -> Group:
        """A registration group by id, or by name ("8A")."""
        for g in self.data.groups.values():
            if g.kind == "REGISTRATION" and (g.id == group_id or (group_id is None and g.name == name)):
                return g
        raise ControlError(f"no registration group {group_id or name!r} in school {self.ref}", status=404)

    def _leave(self, p: Pupil, at: datetime) -> None:
        del self.data.pupils[p.id]
        self.data.gone[p.id] = Gone(p.id, "student", at, pupil=p)
        self._end_memberships(p, at)

    def _end_memberships(self, p: Pupil, at: datetime) -> None:
        for class_id in (p.reg_id, *p.teaching_ids):
            self.data.ended.append(EndedEnrollment(class_id, p.id, at))

    # -- mutations ----------------------------------------------------------------------------

    def add_pupil(self, body: dict[str, Any]) -> Pupil:
        """A new pupil from ``{"forename", "surname", "legal_forename"?, "legal_surname"?,
        "middle_names"?, "gender"?, "date_of_birth"?, "upn"?, "group_id" | "group" | "year"?}``.
        Without a group, the pupil joins the first registration group of ``year`` (default 7)."""
        forename, surname = body.get("forename"), body.get("surname")
        if not isinstance(forename, str) or not isinstance(surname, str) or not forename or not surname:
            raise ControlError("forename and surname are required strings")
        if body.get("group_id") or body.get("group"):
            reg = self.find_group(body.get("group_id"), body.get("group"))
        else:
            year = parse_year(body.get("year", "7"))
            regs = [g for g in self.data.groups_of("REGISTRATION") if g.year == year]
            if not regs:
                raise ControlError(f"school {self.ref} has no registration group in year {year}")
            reg = min(regs, key=lambda g: g.name)
        assert reg.year is not None
        at = now()
        houses = self.data.groups_of("HOUSE")
        upn = body.get("upn")
        pid = self.data.new_id()
        p = Pupil(
            id=pid,
            mis_id=str(10_000 + self.data.next_serial),
            upi=f"{pid.lower()}-upi",
            forename=forename,
            surname=surname,
            legal_forename=body.get("legal_forename") or forename,
            legal_surname=body.get("legal_surname") or surname,
            middle_names=body.get("middle_names"),
            gender=str(body.get("gender", "F"))[:1].upper(),
            dob=parse_dob(body.get("date_of_birth")),
            upn=upn,
            upn_valid=upn_rule.is_valid(upn),
            year=reg.year,
            reg_id=reg.id,
            house_id=houses[0].id if houses else "",
            teaching_ids=(),
            admission_date=at.date(),
            created_at=at,
            updated_at=at,
        )
        self.data.pupils[pid] = p
        self.bump()
        return p

    def edit_pupil(self, pupil_id: str, body: dict[str, Any]) -> Pupil:
        """Change names, date of birth, UPN, and/or move to a registration group
        (``group_id`` or ``group`` name; the pupil takes that group's year)."""
        p = self.pupil(pupil_id)
        at = now()
        for key in ("forename", "surname", "legal_forename", "legal_surname", "middle_names"):
            if key in body:
                setattr(p, key, body[key])
        if "date_of_birth" in body:
            p.dob = parse_dob(body["date_of_birth"])
        if "upn" in body:
            p.upn = body["upn"]
            p.upn_valid = upn_rule.is_valid(p.upn)
        if body.get("group_id") or body.get("group"):
            reg = self.find_group(body.get("group_id"), body.get("group"))
            if reg.id != p.reg_id:
                self.data.ended.append(EndedEnrollment(p.reg_id, p.id, at))
                p.reg_id = reg.id
                assert reg.year is not None
                if reg.year != p.year:
                    for class_id in p.teaching_ids:
                        self.data.ended.append(EndedEnrollment(class_id, p.id, at))
                    p.teaching_ids = ()
                    p.year = reg.year
        p.updated_at = at
        self.bump()
        return p

    def remove_pupil(self, pupil_id: str) -> None:
        """The pupil leaves: gone from the lists, in Wonde deletions, ``tobedeleted`` in OneRoster."""
        self._leave(self.pupil(pupil_id), now())
        self.bump()

    def rollover(self) -> dict[str, Any]:
        """A new academic year. Year 13 leaves; everyone else moves up a year into new
        registration groups with new ids ("7A" -> a new "8A"); the old groups are deleted; a new
        intake fills new N1 groups (as many pupils as left, at least one form). Deterministic for
        (seed, ref, number of rollovers so far)."""
        d = self.data
        at = now()
        top = YEARS[-1]
        leavers = [p for p in d.pupils.values() if p.year == top]
        for p in leavers:
            self._leave(p, at)
        old_regs = [g for g in d.groups.values() if g.kind in ("REGISTRATION", "TEACHING")]
        d.academic_year += 1
        d.rollovers += 1
        gen = Generator(d, random.Random(f"misync-demo:{self.options.seed}:{self.ref}:rollover:{d.rollovers}"), at)
        new_group: dict[str, Group] = {}
        # New groups in a stable order (old group id order) so ids are deterministic.
        for g in sorted(old_regs, key=lambda g: g.id):
            if g.year is None or g.year == top:
                continue
            next_year = YEARS[YEARS.index(g.year) + 1]
            if g.kind == "REGISTRATION":
                name = next_year + g.name[len(g.year) :]
            else:
                name = f"{next_year}x/{g.name.split('/', 1)[1]}"
            new_group[g.id] = gen.group(g.kind, name, next_year)
        for g in old_regs:
            del d.groups[g.id]
            d.gone[g.id] = Gone(g.id, "group", at, group=g)
        for p in list(d.pupils.values()):
            self._end_memberships(p, at)
            p.year = YEARS[YEARS.index(p.year) + 1]
            p.reg_id = new_group[p.reg_id].id
            sets = tuple(new_group[t].id for t in p.teaching_ids if t in new_group)
            if not sets and p.year in ("7",):  # starting secondary: join a maths set
                same_year_sets = sorted(
                    (g for g in d.groups.values() if g.kind == "TEACHING" and g.year == "7"), key=lambda g: g.id
                )
                if not same_year_sets:
                    same_year_sets = [gen.group("TEACHING", "7x/Ma1", "7")]
                sets = (same_year_sets[0].id,)
            p.teaching_ids = sets
            p.updated_at = at
        for g in d.groups.values():
            if g.kind == "YEAR":
                g.updated_at = at
        intake = gen.fill_year(YEARS[0], max(1, len(leavers)))
        self.bump()
        return {
            "academic_year": f"{d.academic_year}/{(d.academic_year + 1) % 100:02d}",
            "left": [p.id for p in leavers],
            "joined": [p.id for p in intake],
            "group_map": {old: g.id for old, g in new_group.items()},
        }

    def mis_change(self) -> dict[str, Any]:
        """The school moved MIS: every pupil and group gets a new id and mis_id; names, dates of
        birth and UPNs stay. The old ids are listed as deleted (Wonde) / ``tobedeleted``."""
        d = self.data
        at = now()
        group_map: dict[str, str] = {}
        new_groups: dict[str, Group] = {}
        for g in sorted(d.groups.values(), key=lambda g: g.id):
            nid = d.new_id()
            new_groups[nid] = replace(g, id=nid, mis_id=str(100_000 + d.next_serial), updated_at=at)
            group_map[g.id] = nid
            d.gone[g.id] = Gone(g.id, "group", at, group=g)
        pupil_map: dict[str, str] = {}
        new_pupils: dict[str, Pupil] = {}
        for p in sorted(d.pupils.values(), key=lambda p: p.id):
            self._end_memberships(p, at)
            nid = d.new_id()
            moved = replace(
                p,
                id=nid,
                mis_id=str(10_000 + d.next_serial),
                reg_id=group_map[p.reg_id],
                house_id=group_map.get(p.house_id, p.house_id),
                teaching_ids=tuple(group_map[t] for t in p.teaching_ids),
                updated_at=at,
            )
            new_pupils[nid] = moved
            pupil_map[p.id] = nid
            d.gone[p.id] = Gone(p.id, "student", at, pupil=p)
        for p in new_pupils.values():
            if p.twin_of is not None:
                p.twin_of = pupil_map.get(p.twin_of)
        d.groups, d.pupils = new_groups, new_pupils
        self.bump()
        return {"pupil_map": pupil_map, "group_map": group_map}

    def add_group(self, name: str, year: Any) -> Group:
        """A new, empty registration group (``form_name`` style names are not enforced)."""
        code = parse_year(year)
        gen = Generator(self.data, random.Random(0), now())
        g = gen.group("REGISTRATION", name or form_name(code, 0), code)
        self.bump()
        return g

    # -- truth --------------------------------------------------------------------------------

    def pupil_truth(self, p: Pupil) -> dict[str, Any]:
        """One pupil in the truth's normalised form."""
        reg = self.data.groups.get(p.reg_id)
        return {
            "id": p.id,
            "mis_id": p.mis_id,
            "forename": p.forename,
            "surname": p.surname,
            "legal_forename": p.legal_forename,
            "legal_surname": p.legal_surname,
            "middle_names": p.middle_names,
            "gender": p.gender,
            "date_of_birth": p.dob.isoformat() if p.dob else None,
            "upn": p.upn,
            "upn_valid": p.upn_valid,
            "nc_year": p.year,
            "year_group": YEAR_NAME[p.year],
            "grade": GRADE[p.year],
            "registration_group_id": p.reg_id,
            "registration_group": reg.name if reg else None,
            "house_group_id": p.house_id,
            "teaching_group_ids": list(p.teaching_ids),
            "twin_of": p.twin_of,
        }

    def truth(self) -> dict[str, Any]:
        """The school as tests should expect a connector to read it (current records only)."""
        d = self.data
        counts: dict[str, int] = {}
        for p in d.pupils.values():
            counts[p.reg_id] = counts.get(p.reg_id, 0) + 1
        groups = [
            {
                "id": g.id,
                "mis_id": g.mis_id,
                "name": g.name,
                "type": g.kind,
                "nc_year": g.year,
                "year_group": YEAR_NAME[g.year] if g.year else None,
                "pupil_count": counts.get(g.id, 0) if g.kind == "REGISTRATION" else None,
            }
            for g in sorted(d.groups.values(), key=lambda g: g.id)
        ]
        pupils = [self.pupil_truth(p) for p in sorted(d.pupils.values(), key=lambda p: p.id)]
        return {
            "school_ref": self.ref,
            "seed": self.options.seed,
            "version": self.version,
            "academic_year": d.academic_year,
            "options": {
                "pupils": self.options.pupils,
                "wonde_education_details": self.options.wonde_education_details,
                "wonde_missing_include": self.options.wonde_missing_include,
                "oneroster_demographics": self.options.oneroster_demographics,
            },
            "pupils": pupils,
            "groups": groups,
            "gone": [
                {"id": g.id, "type": g.kind, "deleted_at": g.deleted_at.isoformat()}
                for g in sorted(d.gone.values(), key=lambda g: g.id)
            ],
        }

    def summary(self) -> dict[str, Any]:
        """Counts only (cheap for a 100,000-pupil school)."""
        d = self.data
        return {
            "school_ref": self.ref,
            "seed": self.options.seed,
            "version": self.version,
            "academic_year": d.academic_year,
            "pupils": len(d.pupils),
            "registration_groups": sum(1 for g in d.groups.values() if g.kind == "REGISTRATION"),
            "gone": len(d.gone),
        }
