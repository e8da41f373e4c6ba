"""Class mapping decisions: one class per group and one live group per class, suggestions, all-or-nothing PUT.

The mapping lives on the class (``Class.mis_group_id``, ``Class.set_up``): a class has at most one group.
This module keeps the other direction too: a group is mapped to at most one class, and a class holds at
most one *live* group. A class whose group went stale (vanished from the MIS, e.g. at a rollover) may be
taken over by a live group: mapping it moves the mapping, and the stale group is left without a class.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app import audit, year_groups
from app.classes import service as classes_service
from app.classes.service import name_key
from app.errors import Conflict, NotFound, ProblemError, Unprocessable
from app.mapping import repository
from app.mapping.schemas import (
    MappingOut,
    Mappings,
    MappingsUpdate,
    RegistrationGroupOut,
    SuggestedBy,
)
from app.models import Class, MisRegistrationGroup
from app.models.base import utcnow
from app.tenancy import Tenant

#: Rank of a group without a known year group: after every year group.
_NO_RANK = 99


def group_order(group: MisRegistrationGroup) -> tuple[bool, int, str, str]:
    """Live groups first, then by year group (youngest first), then by normalised name."""
    rank = year_groups.rank(group.year_group)
    return (group.stale, _NO_RANK if rank is None else rank, name_key(group.name), group.mis_group_id)


def suggest(
    groups: Sequence[MisRegistrationGroup], classes: Sequence[Class]
) -> dict[str, tuple[uuid.UUID, SuggestedBy]]:
    """A suggested class for each live group without a class, by group id.

    Two passes: first the class of the same normalised name ("7a" == "7A "), then the group's lineage
    (the class that held most of its pupils, by MIS-managed membership, at the last fetch). A class
    mapped to another live group is never suggested, and each class is suggested at most once, name
    matches winning, so accepting every suggestion at once is a valid PUT.

    After a rollover with classes named after the groups, the new "8A" is suggested onto the class
    named "8A" (which last year held "8A" and now takes the promoted pupils), not onto "7A" (its
    lineage), which the new intake's "7A" takes by name. Lineage matters when names do not match, e.g.
    classes named after tutors.
    """
    live = {g.mis_group_id for g in groups if not g.stale}
    class_ids = {c.id for c in classes}
    mapped_groups = {c.mis_group_id for c in classes if c.mis_group_id is not None}
    taken = {c.id for c in classes if c.mis_group_id in live}
    by_key = {c.name_key: c for c in classes}
    open_groups = sorted(
        (g for g in groups if not g.stale and g.mis_group_id not in mapped_groups),
        key=group_order,
    )
    out: dict[str, tuple[uuid.UUID, SuggestedBy]] = {}
    for g in open_groups:
        cls = by_key.get(name_key(g.name))
        if cls is not None and cls.id not in taken:
            out[g.mis_group_id] = (cls.id, "name")
            taken.add(cls.id)
    for g in open_groups:
        cid = g.lineage_class_id
        if g.mis_group_id not in out and cid is not None and cid in class_ids and cid not in taken:
            out[g.mis_group_id] = (cid, "lineage")
            taken.add(cid)
    return out


async def list_registration_groups(tenant: Tenant) -> list[RegistrationGroupOut]:
    groups = await repository.list_groups(tenant)
    classes = await repository.list_classes(tenant)
    class_of = {c.mis_group_id: c for c in classes if c.mis_group_id is not None}
    suggestions = suggest(groups, classes)
    items = []
    for g in sorted(groups, key=group_order):
        cls = class_of.get(g.mis_group_id)
        suggested_id, suggested_by = suggestions.get(g.mis_group_id, (None, None))
        items.append(
            RegistrationGroupOut(
                mis_group_id=g.mis_group_id,
                name=g.name,
                year_group=g.year_group,
                pupil_count=g.pupil_count,
                stale=g.stale,
                class_id=cls.id if cls else None,
                class_name=cls.name if cls else None,
                set_up=cls.set_up if cls else False,
                suggested_class_id=suggested_id,
                suggested_by=suggested_by,
                last_seen_at=g.last_seen_at,
            )
        )
    return items


def _mappings(classes: Iterable[Class], groups: Sequence[MisRegistrationGroup]) -> Mappings:
    by_id = {g.mis_group_id: g for g in groups}

    def order(cls: Class) -> tuple[bool, int, str, str]:
        group = by_id.get(cls.mis_group_id or "")
        # A group id that no fetch has seen (none should exist) sorts last, as if stale.
        return group_order(group) if group else (True, _NO_RANK + 1, "", cls.mis_group_id or "")

    out = []
    for cls in sorted((c for c in classes if c.mis_group_id is not None), key=order):
        assert cls.mis_group_id is not None
        group = by_id.get(cls.mis_group_id)
        out.append(
            MappingOut(
                mis_group_id=cls.mis_group_id,
                class_id=cls.id,
                set_up=cls.set_up,
                class_name=cls.name,
                group_name=group.name if group else None,
                year_group=group.year_group if group else None,
                stale=group is None or group.stale,
            )
        )
    return Mappings(mappings=out)


async def list_mappings(tenant: Tenant) -> Mappings:
    return _mappings(await repository.mapped_classes(tenant), await repository.list_groups(tenant))


@dataclass(frozen=True, slots=True)
class _NewClass:
    """A class to create, named after a group."""

    name: str

    @property
    def key(self) -> str:
        return name_key(self.name)


Target = Class | _NewClass | None


def _loc(i: int, field: str) -> list[str | int]:
    return ["body", "mappings", i, field]


async def update_mappings(tenant: Tenant, body: MappingsUpdate) -> Mappings:
    """Apply the listed mappings all or nothing; validation first, so a refused request changes nothing."""
    await repository.lock_mappings(tenant)
    groups = {g.mis_group_id: g for g in await repository.list_groups(tenant)}
    classes = {c.id: c for c in await repository.list_classes(tenant)}
    items = body.mappings

    # 1. Each group listed once; every group and class exists in this school.
    first_index: dict[str, int] = {}
    repeated = []
    for i, m in enumerate(items):
        if m.mis_group_id in first_index:
            repeated.append(ProblemError(loc=_loc(i, "mis_group_id"), msg=f"group {m.mis_group_id} is listed twice"))
        first_index.setdefault(m.mis_group_id, i)
    if repeated:
        raise Unprocessable("A group can be listed only once", errors=repeated)
    missing_groups = [m.mis_group_id for m in items if m.mis_group_id not in groups]
    if missing_groups:
        raise NotFound(
            f"No registration group with id {', '.join(missing_groups[:10])} in the last fetch; "
            "run a registration_groups job first",
            extra={"missing_mis_group_ids": missing_groups[:100]},
        )
    missing_classes = sorted({str(m.class_id) for m in items if m.class_id is not None and m.class_id not in classes})
    if missing_classes:
        raise NotFound(
            f"No class with id {', '.join(missing_classes[:10])}", extra={"missing_class_ids": missing_classes[:100]}
        )

    # 2. Resolve each mapping's target class; no class may be claimed twice.
    by_key = {c.name_key: c for c in classes.values()}
    targets: list[Target] = []
    claims: dict[uuid.UUID | str, list[int]] = {}
    for i, m in enumerate(items):
        target: Target
        if m.class_id is not None:
            target = classes[m.class_id]
        elif m.set_up:
            name = groups[m.mis_group_id].name.strip()
            target = by_key.get(name_key(name)) or _NewClass(name)
        else:
            target = None
        targets.append(target)
        if target is not None:
            claims.setdefault(target.id if isinstance(target, Class) else target.key, []).append(i)
    doubled = [
        ProblemError(loc=_loc(i, "class_id"), msg=f"the class is also claimed by mappings[{idx[0]}]")
        for idx in claims.values()
        if len(idx) > 1
        for i in idx[1:]
    ]
    if doubled:
        raise Unprocessable("Two mappings claim the same class; a class maps to one group", errors=doubled)

    # 3. A class keeps its live group unless that group is remapped in the same request; a stale group
    #    cannot take a new class.
    current_class = {c.mis_group_id: c for c in classes.values() if c.mis_group_id is not None}
    conflicts: list[dict[str, Any]] = []
    for m, target in zip(items, targets, strict=True):
        if not isinstance(target, Class):
            if isinstance(target, _NewClass) and groups[m.mis_group_id].stale:
                conflicts.append({"mis_group_id": m.mis_group_id, "reason": "group_stale"})
            continue
        holder = target.mis_group_id
        if holder is not None and holder != m.mis_group_id and holder not in first_index:
            held = groups.get(holder)
            if held is not None and not held.stale:
                conflicts.append(
                    {
                        "mis_group_id": m.mis_group_id,
                        "class_id": str(target.id),
                        "reason": "class_mapped_to_live_group",
                        "mapped_mis_group_id": holder,
                    }
                )
        if groups[m.mis_group_id].stale and current_class.get(m.mis_group_id) is not target:
            conflicts.append({"mis_group_id": m.mis_group_id, "class_id": str(target.id), "reason": "group_stale"})
    if conflicts:
        first = conflicts[0]
        if first["reason"] == "group_stale":
            detail = (
                f"Group {first['mis_group_id']} vanished from the MIS at the last fetch; "
                "it can keep its class or be unmapped, not take a new one"
            )
        else:
            detail = (
                f"Class {first['class_id']} is mapped to live group {first['mapped_mis_group_id']}; "
                "unmap or remap that group in the same request first"
            )
        raise Conflict(detail, extra={"conflicts": conflicts})

    # 4. Apply: create the classes named after groups, then move the mappings.
    before = {c.id: (c.mis_group_id, c.set_up) for c in classes.values()}
    resolved: list[Class | None] = []
    for target in targets:
        if isinstance(target, _NewClass):
            target = await classes_service.create_class(tenant, target.name)
            classes[target.id] = target
            before[target.id] = (None, False)
        resolved.append(target)
    for m in items:  # listed groups leave their current class ...
        if (cls := current_class.get(m.mis_group_id)) is not None:
            cls.mis_group_id, cls.set_up = None, False
    for m, cls in zip(items, resolved, strict=True):  # ... and take their target (a stale holder is replaced)
        if cls is not None:
            cls.mis_group_id, cls.set_up = m.mis_group_id, m.set_up
    now = utcnow()
    changed = []
    for cls in classes.values():
        old = before[cls.id]
        if (cls.mis_group_id, cls.set_up) != old:
            cls.updated_at = now
            changed.append((cls.id, {"mis_group_id": [old[0], cls.mis_group_id], "set_up": [old[1], cls.set_up]}))
    await tenant.session.flush()
    await audit.record_many(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="class.mapping_changed",
        entity_type="class",
        entries=changed,
    )
    return _mappings(classes.values(), list(groups.values()))
