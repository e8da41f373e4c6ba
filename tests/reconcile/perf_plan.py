"""Timing check of build_plan at scale (not a test: run it by hand).

    .venv/bin/python -m tests.reconcile.perf_plan [N]

Builds a school of N pupils (default 100,000) over Reception .. Year 13 with realistic name and
birthday collisions, then times four plans: a no-change resync, a September rollover, a first import
against N hand-added pupils (90% strong matches, 5% typos, 5% new) and an MIS change (every MIS id
renumbered).
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from dataclasses import replace
from datetime import date, timedelta

from app.mis.records import MisPupil
from app.reconcile import Plan, RosterPupil, build_plan
from app.reconcile.upn import check_letter
from app.year_groups import ORDER

YEARS = ORDER[2:16]  # Reception .. Year 13
FORENAMES = [
    f"{a}{b}"
    for a in ("Al", "Be", "Ca", "Da", "El", "Fi", "Ga", "Ha", "Is", "Jo")
    for b in (
        "ex",
        "la",
        "ra",
        "na",
        "ma",
        "ssa",
        "rry",
        "die",
        "ah",
        "y",
        "nah",
        "lie",
        "ton",
        "ric",
        "vin",
        "ne",
        "sie",
        "ran",
        "tty",
        "lo",
    )
]
SURNAMES = [
    f"{a}{b}"
    for a in (
        "Sm",
        "Jon",
        "Wil",
        "Tay",
        "Bro",
        "Dav",
        "Ev",
        "Tho",
        "Rob",
        "Wal",
        "Whi",
        "Ha",
        "Gre",
        "Lew",
        "Mar",
        "Cla",
    )
    for b in (
        "ith",
        "es",
        "son",
        "lor",
        "wn",
        "ies",
        "ans",
        "mas",
        "erts",
        "ker",
        "te",
        "ll",
        "en",
        "is",
        "tin",
        "rke",
        "ley",
        "ford",
        "ton",
        "wood",
    )
]


def _typo(name: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(name))
    return name[:i] + rng.choice("aeiouy") + name[i + 1 :]


def make(n: int, seed: int = 1) -> tuple[list[MisPupil], dict[str, uuid.UUID]]:
    rng = random.Random(seed)
    groups = {f"g{y}-{k}": uuid.UUID(int=1000 * y + k) for y in range(len(YEARS)) for k in range(10)}
    per_year = n // len(YEARS) + 1
    answer: list[MisPupil] = []
    for i in range(n):
        y = min(i // per_year, len(YEARS) - 1)
        tail = f"{801200000000 + i:012d}"
        answer.append(
            MisPupil(
                mis_id=f"m{i}",
                forename=rng.choice(FORENAMES),
                surname=rng.choice(SURNAMES),
                legal_forename=None,
                legal_surname=None,
                date_of_birth=date(2020 - y, 9, 1) + timedelta(days=rng.randrange(365)),
                upn=check_letter(tail) + tail if rng.random() < 0.97 else None,
                gender=None,
                year_group=YEARS[y],
                group_ids=(f"g{y}-{rng.randrange(10)}",),
            )
        )
    return answer, groups


def roster_from(answer: list[MisPupil], groups: dict[str, uuid.UUID], *, linked: bool) -> list[RosterPupil]:
    return [
        RosterPupil(
            id=uuid.UUID(int=i + 1),
            forename=m.forename,
            surname=m.surname,
            legal_forename=None,
            legal_surname=None,
            date_of_birth=m.date_of_birth,
            upn=m.upn,
            year_group=m.year_group,
            sync_status="synced" if linked else "manual",
            mis_id=m.mis_id if linked else None,
            mis_class_id=groups[m.group_ids[0]] if linked else None,
        )
        for i, m in enumerate(answer)
    ]


def timed(label: str, roster: list[RosterPupil], answer: list[MisPupil], groups: dict[str, uuid.UUID]) -> Plan:
    start, cpu = time.perf_counter(), time.process_time()
    plan = build_plan(roster, answer, groups)
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    guard = f"{plan.guard.kind} held={plan.guard.held}" if plan.guard else "none"
    print(f"{label:<13} wall {took:5.2f} s  cpu {cpu:5.2f} s  guard={guard}  {plan.counts}")
    return plan


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = random.Random(2)
    answer, groups = make(n)
    synced = roster_from(answer, groups, linked=True)
    timed("no-change", synced, answer, groups)

    top = YEARS[-1]
    promoted = [
        replace(m, year_group=ORDER[ORDER.index(m.year_group or "") + 1]) for m in answer if m.year_group != top
    ]
    intake, _ = make(n // len(YEARS), seed=3)
    intake = [replace(m, mis_id=f"new{m.mis_id}", upn=None, year_group=YEARS[0]) for m in intake]
    timed("rollover", synced, promoted + intake, groups)

    manual = roster_from(answer, groups, linked=False)
    first: list[MisPupil] = []
    for m in answer:
        r = rng.random()
        if r < 0.05:  # a typo on our side of the record, no UPN: a may_match
            first.append(replace(m, surname=_typo(m.surname, rng), upn=None))
        elif r < 0.10:  # someone we do not have: new (and one of ours not matched)
            first.append(
                replace(
                    m,
                    mis_id=f"x{m.mis_id}",
                    forename="Zz" + m.forename,
                    upn=None,
                    date_of_birth=m.date_of_birth and m.date_of_birth - timedelta(days=400),
                )
            )
        else:
            first.append(m)
    timed("first-import", manual, first, groups)

    timed("mis-change", synced, [replace(m, mis_id=f"v2-{m.mis_id}") for m in answer], groups)


if __name__ == "__main__":
    main()
