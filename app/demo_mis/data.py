"""The simulated school: records and a deterministic generator.

A school is generated from ``(seed, school_ref, pupils)`` only: the same three always give the
same pupils, groups, ids, names and dates (``random.Random`` seeded with a string is stable
across runs and platforms). Realism the connectors must cope with, by design:

* year groups N1, N2, R, 1..13 (an all-through school), two or more registration groups per
  year ("7A", "7B", ...; "RA", "N1A"), plus YEAR and HOUSE groups and maths sets (teaching
  groups) that connectors must ignore;
* names with accents (Zoë, Chloé, Søren), apostrophes (O'Brien, D'Souza), hyphens
  (Smith-Jones) and spaces (van der Berg); twins (same surname and date of birth, different
  forenames, same form); preferred names that differ from legal ones;
* about 1% without a date of birth, 2% without a UPN, 1% with a UPN whose check letter is wrong;
* a few pupils who already left (Wonde deletions, OneRoster ``tobedeleted``).

Ids are shared by both providers: Wonde student ``id`` == OneRoster user ``sourcedId``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from app.demo_mis import upn as upn_rule

#: NC year codes as Wonde sends them in ``current_nc_year``, youngest first.
YEARS: tuple[str, ...] = ("N1", "N2", "R", *(str(n) for n in range(1, 14)))
YEAR_RANK = {code: rank for rank, code in enumerate(YEARS, start=-2)}  # R is 0, Year 1 is 1
#: Canonical names (the same spelling as app.year_groups).
YEAR_NAME = {"N1": "Nursery 1", "N2": "Nursery 2", "R": "Reception"} | {str(n): f"Year {n}" for n in range(1, 14)}
#: OneRoster (CEDS) grade codes: preschool, pre-kindergarten, kindergarten, then "01".."13".
GRADE = {"N1": "PR", "N2": "PK", "R": "KG"} | {str(n): f"{n:02d}" for n in range(1, 14)}
#: The first academic year the generator writes (2025/26), and when the data was "made".
BASE_ACADEMIC_YEAR = 2025
BASE_TIME = datetime(2025, 9, 1, 7, 0, tzinfo=UTC)
HOUSES = ("Brontë", "Nightingale", "Seacole", "Turing")
FORM_SIZE = 30

FEMALE = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Zoë", "Chloé", "Grace", "Freya", "Lily", "Ella",
    "Sophia", "Aoife", "Niamh", "Siân", "Renée", "Zainab", "Aisha", "Maryam", "Priya", "Ananya",
    "Chiamaka", "Oluwadamilola", "Hannah", "Evie", "Isabella", "Elizabeth", "Katherine",
    "Rebecca", "Margaret", "Anaïs", "Maja", "Zofia", "Léa", "Jessica", "Ruby", "Florence",
)  # fmt: skip
MALE = (
    "Oliver", "George", "Noah", "Arthur", "Muhammad", "Leo", "Harry", "Oscar", "Søren", "José",
    "Jack", "Thomas", "William", "Alexander", "Benjamin", "Samuel", "Joshua", "Daniel",
    "Matthew", "Jamal", "Oluwaseun", "Kwame", "Rhys", "Dafydd", "Seán", "Ciarán", "Tomás",
    "Mateusz", "Bartłomiej", "Jürgen", "Finn", "Theo", "Ibrahim", "Yusuf", "Arjun", "Edward",
    "Jonathan", "Christopher", "Nicholas", "François",
)  # fmt: skip
SURNAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "O'Brien", "O'Connor", "D'Souza", "D'Arcy", "Smith-Jones",
    "Taylor-Wood", "Ashworth-Bell", "McDonald", "MacLeod", "Ní Bhriain", "Ó Súilleabháin",
    "van der Berg", "de la Cruz", "Nguyen", "Kowalski", "Nowak", "Müller", "Schäfer", "Patel",
    "Khan", "Ahmed", "Begum", "Ali", "Hussain", "Singh", "Kaur", "Okafor", "Adeyemi", "Mensah",
    "Chen", "Wang", "Li", "Kim", "Rossi", "García", "Fernández", "López", "Öztürk", "Yılmaz",  # noqa: RUF001 - Turkish dotless i, on purpose
    "Núñez", "Lefèvre", "Søndergaard",
)  # fmt: skip
NICKNAMES = {
    "William": "Will", "Alexander": "Alex", "Benjamin": "Ben", "Samuel": "Sam", "Thomas": "Tom",
    "Joshua": "Josh", "Daniel": "Dan", "Matthew": "Matt", "Edward": "Ted", "Jonathan": "Jon",
    "Christopher": "Chris", "Nicholas": "Nick", "Oluwaseun": "Seun", "Muhammad": "Mo",
    "Elizabeth": "Beth", "Katherine": "Kate", "Rebecca": "Becky", "Margaret": "Maggie",
    "Isabella": "Bella", "Jessica": "Jess", "Oluwadamilola": "Dami", "Chiamaka": "Amaka",
}  # fmt: skip
# Valid post-1999 LA codes (a sample) for the UPN's characters 2-4.
LA_CODES = (201, 202, 204, 205, 301, 302, 304, 305, 340, 341, 800, 801, 802, 822, 823, 919, 936, 938)


@dataclass(slots=True)
class Group:
    """A Wonde group / OneRoster class. ``kind``: REGISTRATION, YEAR, HOUSE or TEACHING."""

    id: str
    mis_id: str
    kind: str
    name: str
    code: str
    year: str | None  # NC year code for REGISTRATION, YEAR and TEACHING groups
    created_at: datetime
    updated_at: datetime

    @property
    def description(self) -> str:
        """A human description, as MIS give them ("Year 7 registration group 7A")."""
        if self.kind == "REGISTRATION" and self.year is not None:
            return f"{YEAR_NAME[self.year]} registration group {self.name}"
        if self.kind == "YEAR" and self.year is not None:
            return YEAR_NAME[self.year]
        if self.kind == "HOUSE":
            return f"{self.name} House"
        return self.name


@dataclass(slots=True)
class Pupil:
    """One pupil. ``forename``/``surname`` are preferred names; ``legal_*`` the legal ones."""

    id: str
    mis_id: str
    upi: str
    forename: str
    surname: str
    legal_forename: str
    legal_surname: str
    middle_names: str | None
    gender: str  # "M" or "F"
    dob: date | None
    upn: str | None
    upn_valid: bool
    year: str  # NC year code, see YEARS
    reg_id: str
    house_id: str
    teaching_ids: tuple[str, ...]
    admission_date: date
    created_at: datetime
    updated_at: datetime
    twin_of: str | None = None


@dataclass(slots=True)
class Gone:
    """A record that left: a pupil or group id, what it was, and when it went."""

    id: str
    kind: str  # "student" or "group"
    deleted_at: datetime
    pupil: Pupil | None = None
    group: Group | None = None


@dataclass(slots=True)
class EndedEnrollment:
    """A pupil's membership of a class that ended (OneRoster shows it as ``tobedeleted``)."""

    class_id: str
    user_id: str
    ended_at: datetime


@dataclass
class SchoolData:
    """Everything a school holds. Dicts keep insertion order; listings sort by id anyway."""

    ref: str
    academic_year: int
    pupils: dict[str, Pupil] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    gone: dict[str, Gone] = field(default_factory=dict)
    ended: list[EndedEnrollment] = field(default_factory=list)
    next_serial: int = 1
    rollovers: int = 0

    def new_id(self) -> str:
        """A fresh id, unique across schools: "A" + 8 digits of the school + a 7-digit serial."""
        serial = self.next_serial
        self.next_serial += 1
        return f"A{school_number(self.ref):08d}{serial:07d}"

    def groups_of(self, kind: str) -> list[Group]:
        """Groups of one kind, in id order."""
        return sorted((g for g in self.groups.values() if g.kind == kind), key=lambda g: g.id)


def school_number(ref: str) -> int:
    """A stable 8-digit number for a school ref (prefix of every id of that school)."""
    return int(hashlib.sha256(ref.encode()).hexdigest()[:12], 16) % 100_000_000


def form_name(year: str, index: int) -> str:
    """Registration group name: "7A", "7B", ... "7Z", then "7A2" (very large schools)."""
    letter = chr(ord("A") + index % 26)
    suffix = "" if index < 26 else str(index // 26 + 1)
    return f"{year}{letter}{suffix}"


def forms_per_year(per_year: int) -> int:
    """At least two forms per year (several groups per year), about 30 pupils each."""
    if per_year <= 1:
        return 1
    return max(2, -(-per_year // FORM_SIZE))


class Generator:
    """Makes pupils and groups for one school; all randomness comes from one seeded stream."""

    def __init__(self, data: SchoolData, rng: random.Random, now: datetime) -> None:
        self.data = data
        self.rng = rng
        self.now = now
        self.upn_serial = 0

    # -- groups -------------------------------------------------------------------------------

    def group(self, kind: str, name: str, year: str | None, code: str | None = None) -> Group:
        gid = self.data.new_id()
        g = Group(gid, str(100_000 + self.data.next_serial), kind, name, code or name, year, self.now, self.now)
        self.data.groups[gid] = g
        return g

    def year_groups(self, year: str, forms: int) -> tuple[list[Group], list[Group]]:
        """The registration groups and maths sets of one year (and its YEAR group)."""
        existing = [g for g in self.data.groups.values() if g.kind == "YEAR" and g.year == year]
        if not existing:
            self.group("YEAR", YEAR_NAME[year], year, code=year)
        regs = [self.group("REGISTRATION", form_name(year, i), year) for i in range(forms)]
        sets: list[Group] = []
        if YEAR_RANK[year] >= 7:  # secondary years are setted for maths
            sets = [self.group("TEACHING", f"{year}x/Ma{i + 1}", year) for i in range(forms)]
        return regs, sets

    def houses(self) -> list[Group]:
        found = self.data.groups_of("HOUSE")
        return found or [self.group("HOUSE", h, None) for h in HOUSES]

    # -- pupils -------------------------------------------------------------------------------

    def dob_for(self, year: str) -> date:
        """A date of birth in the right academic year of birth for ``year`` (1 Sep .. 31 Aug)."""
        start = date(self.data.academic_year - 5 - YEAR_RANK[year], 9, 1)
        return start + timedelta(days=self.rng.randrange(365))

    def make_upn(self, born: date, valid: bool) -> str:
        """A unique permanent UPN: LA code, establishment, year of issue, serial."""
        n = self.upn_serial
        self.upn_serial += 1
        la = LA_CODES[n % len(LA_CODES)]
        estab = 2000 + (n // 1000) % 8000
        body = f"{la:03d}{estab:04d}{(born.year + 4) % 100:02d}{n % 1000:03d}"
        return upn_rule.make(body, valid=valid)

    def pupil(self, year: str, reg: Group, house: Group, sets: tuple[str, ...], twin: Pupil | None) -> Pupil:
        rng = self.rng
        gender = "F" if rng.random() < 0.5 else "M"
        pool = FEMALE if gender == "F" else MALE
        legal_forename = rng.choice(pool)
        if twin is not None:
            while legal_forename == twin.legal_forename:
                legal_forename = rng.choice(pool)
            legal_surname, dob = twin.legal_surname, twin.dob
        else:
            legal_surname = rng.choice(SURNAMES)
            dob = None if rng.random() < 0.01 else self.dob_for(year)
        forename = legal_forename
        if legal_forename in NICKNAMES and rng.random() < 0.3:
            forename = NICKNAMES[legal_forename]
        surname = legal_surname if twin is None else twin.surname
        if twin is None and rng.random() < 0.01:
            # A preferred surname (step-family name, or one half of a double-barrelled name).
            surname = legal_surname.split("-")[-1] if "-" in legal_surname else rng.choice(SURNAMES)
        middle = rng.choice(FEMALE if gender == "F" else MALE) if rng.random() < 0.3 else None
        roll = rng.random()
        upn: str | None
        upn_valid = True
        if roll < 0.02:
            upn, upn_valid = None, False
        else:
            upn_valid = roll >= 0.03
            upn = self.make_upn(dob or self.dob_for(year), upn_valid)
        pid = self.data.new_id()
        admitted = BASE_TIME.date() - timedelta(days=365 * max(0, YEAR_RANK[year] + 2) + rng.randrange(200))
        created = datetime(admitted.year, admitted.month, admitted.day, 7, 30, tzinfo=UTC)
        updated = self.now + timedelta(seconds=rng.randrange(30 * 86400)) if self.now == BASE_TIME else self.now
        return Pupil(
            id=pid,
            mis_id=str(10_000 + self.data.next_serial),
            upi=hashlib.sha256(f"{self.data.ref}:{pid}".encode()).hexdigest()[:32],
            forename=forename,
            surname=surname,
            legal_forename=legal_forename,
            legal_surname=legal_surname,
            middle_names=middle,
            gender=gender,
            dob=dob,
            upn=upn,
            upn_valid=upn_valid,
            year=year,
            reg_id=reg.id,
            house_id=house.id,
            teaching_ids=sets,
            admission_date=admitted,
            created_at=created,
            updated_at=updated,
            twin_of=twin.id if twin is not None else None,
        )

    def fill_year(self, year: str, count: int) -> list[Pupil]:
        """``count`` pupils in ``year``, in new registration groups (contiguous blocks, so twins
        share a form) with about 1% of pupils being the second of a pair of twins."""
        forms = forms_per_year(count)
        regs, sets = self.year_groups(year, forms)
        houses = self.houses()
        made: list[Pupil] = []
        prev: Pupil | None = None
        for i in range(count):
            form = i * forms // count
            twin = prev if prev is not None and prev.twin_of is None and self.rng.random() < 0.01 else None
            if twin is not None and twin.reg_id != regs[form].id:
                twin = None  # twins are in the same form
            teaching = (sets[form].id,) if sets else ()
            p = self.pupil(year, regs[form], self.rng.choice(houses), teaching, twin)
            self.data.pupils[p.id] = p
            made.append(p)
            prev = p
        return made


def generate(ref: str, seed: int, pupils: int) -> SchoolData:
    """A school of ``pupils`` pupils spread evenly over the 16 year groups, plus a few leavers."""
    data = SchoolData(ref=ref, academic_year=BASE_ACADEMIC_YEAR)
    gen = Generator(data, random.Random(f"misync-demo:{seed}:{ref}"), BASE_TIME)
    gen.houses()
    per_year, extra = divmod(max(0, pupils), len(YEARS))
    for i, year in enumerate(YEARS):
        gen.fill_year(year, per_year + (1 if i < extra else 0))
    # Pupils who left before "now": listed as deletions / tobedeleted, never as current.
    leavers = max(1, pupils // 200) if pupils >= 20 else 0
    old_form = gen.group("REGISTRATION", "11Z", "11") if leavers else None
    for _ in range(leavers):
        assert old_form is not None
        gone = gen.pupil("11", old_form, gen.houses()[0], (), None)
        data.gone[gone.id] = Gone(gone.id, "student", BASE_TIME - timedelta(days=40), pupil=gone)
    if old_form is not None:  # the defunct form they were in went too
        del data.groups[old_form.id]
        data.gone[old_form.id] = Gone(old_form.id, "group", BASE_TIME - timedelta(days=40), group=old_form)
    return data
