"""The safety guard: decide whether a plan may be applied without a human override. Pure.

A plan is *held* when the MIS answer looks wrong rather than the school having changed:

1. ``outage``: the fetch is incomplete, the answer has no pupils or no groups, or the plan would
   desync more than :data:`OUTAGE_SHARE` of the synced pupils (almost everyone gone).
2. ``mis_change``: more than ``threshold`` of the synced pupils are re-linked because their MIS id
   changed while UPN or name and date of birth stayed (matching rule 8). The re-links are right,
   but a change of that size needs a human to confirm it.
3. ``mass_desync``: more than ``threshold`` of the synced pupils would be desynced, and the pattern is
   not a rollover.

A *rollover* (September) is not held: leavers concentrated in the top year group(s) and a new intake
at the bottom. It is reported (``held=False``, kind ``rollover``) whenever at least
:data:`ROLLOVER_MIN_SHARE` of the synced pupils leave in that pattern, so the job can say so.

4. ``rollover``, held: with ``hold_new_year`` (apply mode: scheduled and unattended syncs), the first
   sync after the MIS moves to a new academic year is held, because promotion is a decision. A new
   year is when more than :data:`NEW_YEAR_PROMOTED_SHARE` of the synced pupils still in the MIS move
   up exactly one year group. Until that plan is applied (with ``override_guard``) every later apply
   sees the same promotion and is held again; once it is, the year groups match and nothing is held.
   A preview is reviewed anyway, so it is not held for this. A plan that is also a ``mass_desync`` is
   held as that.

Shares are of the pupils synced before the plan (``sync_status == "synced"``); already desynced and
manual pupils do not count.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from app.reconcile.types import Guard, GuardKind, PlanItem, RosterPupil
from app.year_groups import ORDER, rank

#: Default share of synced pupils a plan may desync (or re-link) before it is held.
DEFAULT_DESYNC_THRESHOLD = 0.20
#: Above this share of synced pupils desynced, the MIS is taken to be down: "outage".
OUTAGE_SHARE = 0.90
#: A rollover needs at least this share of the desynced pupils in the top year group(s).
ROLLOVER_TOP_SHARE = 0.80
#: A rollover needs new bottom-year pupils numbering at least this share of the desynced pupils.
ROLLOVER_MIN_INTAKE_RATIO = 0.30
#: Below this share of synced pupils desynced, a rollover pattern is not worth reporting.
ROLLOVER_MIN_SHARE = 0.05
#: Year groups that end a school phase; pupils leave from them as well as from the top year
#: (Year 11 leavers of a school with a sixth form). They count as "top" within this many years of it.
PHASE_END_YEARS: tuple[str, ...] = ("Year 6", "Year 11")
PHASE_END_SPAN = 2
#: A new academic year: more than this share of the synced pupils still in the MIS move up one year.
NEW_YEAR_PROMOTED_SHARE = 0.5


def _pct(share: float) -> str:
    return f"{share:.0%}"


def top_year_groups(year_groups: Iterable[str | None]) -> frozenset[str]:
    """The year groups leavers come from: the highest present, and phase ends close below it."""
    present = {y for y in year_groups if rank(y) is not None}
    if not present:
        return frozenset()
    top = max(rank(y) or 0 for y in present)
    tops = {ORDER[top]}
    tops.update(y for y in PHASE_END_YEARS if y in present and (rank(y) or 0) >= top - PHASE_END_SPAN)
    return frozenset(tops)


def assess(
    items: Sequence[PlanItem],
    roster: Sequence[RosterPupil],
    *,
    mis_count: int,
    group_count: int,
    fetch_complete: bool,
    threshold: float = DEFAULT_DESYNC_THRESHOLD,
    hold_new_year: bool = False,
) -> Guard | None:
    """The guard's verdict on a plan, or None when nothing is unusual.

    ``roster`` is the roster the plan was computed from; ``mis_count`` the number of MIS pupils and
    ``group_count`` the number of set-up registration groups in the MIS answer.
    Nothing is ever held when no pupil is synced yet (a first import has nothing to protect).
    ``hold_new_year`` holds a new academic year (kind ``rollover``; see the module docstring).
    """
    synced: dict[uuid.UUID, RosterPupil] = {
        p.id: p for p in roster if p.sync_status == "synced" and p.mis_id is not None
    }
    synced_before = len(synced)
    if synced_before == 0:
        return None

    desynced = [synced[i.pupil_id] for i in items if i.tag == "desynced" and i.pupil_id in synced]
    # A `matched` item on a linked pupil can only be a re-link (rule 8): unlinked pupils have no MIS id.
    relinked = sum(1 for i in items if i.tag == "matched" and i.pupil_id in synced)
    new_items = [i for i in items if i.tag == "new" and i.mis is not None]

    ranks = [r for r in (rank(p.year_group) for p in synced.values()) if r is not None]
    bottom = min(ranks) if ranks else None
    intake = sum(
        1
        for i in new_items
        if bottom is not None and i.mis is not None and (rank(i.mis.year_group) or len(ORDER)) <= bottom
    )
    tops = top_year_groups(p.year_group for p in synced.values())
    # Promotion: synced pupils still in the MIS whose year group moves up by exactly one.
    staying = promoted = 0
    for i in items:
        if i.tag != "synced" or i.mis is None or i.pupil_id not in synced:
            continue
        before, after = rank(synced[i.pupil_id].year_group), rank(i.mis.year_group)
        if before is None or after is None:
            continue
        staying += 1
        promoted += after == before + 1
    promoted_share = promoted / staying if staying else 0.0
    from_top = sum(1 for p in desynced if p.year_group in tops)

    share = len(desynced) / synced_before
    relink_share = relinked / synced_before
    top_share = from_top / len(desynced) if desynced else 0.0
    numbers: dict[str, int | float] = {
        "synced_before": synced_before,
        "mis_pupils": mis_count,
        "groups": group_count,
        "desynced": len(desynced),
        "share": round(share, 4),
        "new": len(new_items),
        "new_bottom_year": intake,
        "relinked": relinked,
        "relink_share": round(relink_share, 4),
        "top_year_share": round(top_share, 4),
        "promoted": promoted,
        "promoted_share": round(promoted_share, 4),
        "threshold": threshold,
    }

    def verdict(held: bool, kind: GuardKind, reason: str) -> Guard:
        return Guard(held=held, kind=kind, reason=reason, numbers=numbers)

    if not fetch_complete:
        return verdict(
            True,
            "outage",
            f"The MIS answer is incomplete while {synced_before} pupils are synced, "
            "so the plan is held as a likely MIS outage.",
        )
    if mis_count == 0 or group_count == 0:
        return verdict(
            True,
            "outage",
            f"The MIS answered with {mis_count} pupils in {group_count} registration groups while "
            f"{synced_before} pupils are synced, so the plan is held as a likely MIS outage.",
        )
    if share > OUTAGE_SHARE:
        return verdict(
            True,
            "outage",
            f"The plan would desync {len(desynced)} of {synced_before} synced pupils ({_pct(share)}), "
            "almost everyone, so it is held as a likely MIS outage.",
        )
    if relink_share > threshold:
        return verdict(
            True,
            "mis_change",
            f"{relinked} of {synced_before} synced pupils ({_pct(relink_share)}) are back under a new "
            "MIS id with the same UPN or name and date of birth; the re-links look like an MIS change "
            "and need confirmation.",
        )
    rollover = (
        bool(desynced)
        and top_share >= ROLLOVER_TOP_SHARE
        and intake >= max(1, ROLLOVER_MIN_INTAKE_RATIO * len(desynced))
    )
    reported_rollover = rollover and share >= ROLLOVER_MIN_SHARE
    mass_desync = share > threshold and not reported_rollover
    if hold_new_year and promoted_share > NEW_YEAR_PROMOTED_SHARE and not mass_desync:
        return verdict(
            True,
            "rollover",
            f"A new academic year needs review: {promoted} of {staying} synced pupils ({_pct(promoted_share)}) "
            f"move up one year group, {len(desynced)} leave and {len(new_items)} join. Promotion is a "
            "decision, so the first sync of the new year is held until it is applied with override_guard.",
        )
    if reported_rollover:
        return verdict(
            False,
            "rollover",
            f"Rollover: {len(desynced)} of {synced_before} synced pupils ({_pct(share)}) leave, "
            f"{_pct(top_share)} of them from the top year group(s), and {intake} new pupils join "
            "the bottom year group.",
        )
    if mass_desync:
        return verdict(
            True,
            "mass_desync",
            f"The plan would desync {len(desynced)} of {synced_before} synced pupils ({_pct(share)}), "
            f"more than the {_pct(threshold)} threshold, and it does not look like a rollover.",
        )
    return None
