"""The tidy-up: the seed's clean-up after a rollover, exact and in one transaction.

Steps, in this order, each one set-based statement (plus one audit insert):

1. revoke access of desynced pupils;
2. grant access to synced pupils without it;
3. find the leavers class by name (case and spaces ignored) or create it;
4. move every pupil without access into it: their other memberships end (the audit keeps which), and
   pupils with access leave it, so it holds exactly the pupils without access;
5. delete the classes left without members, except the leavers class and classes mapped to an MIS group
   and set up for sync.

Afterwards each set-up class holds its MIS group's pupils (plus any pupils with access added by hand), and
running the tidy-up again changes nothing. A dry run runs the very same statements inside a savepoint
and rolls it back, so its answer is exactly what the real run will produce at that moment.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from typing import Any

from app import audit
from app.classes import repository as classes_repository
from app.classes import service as classes_service
from app.errors import Conflict
from app.leavers import repository
from app.leavers.schemas import ClassRef, LeaversClass, TidyRequest, TidyResult
from app.models import Class
from app.pupils import repository as pupils_repository
from app.pupils import service as pupils_service
from app.pupils.schemas import PupilFilter
from app.tenancy import Tenant

#: How long a tidy-up waits for a running sync job of its school to finish before answering 409.
LOCK_WAIT_S = 10.0
REASON = "leavers_tidy"


async def _wait_for_sync_lock(tenant: Tenant) -> None:
    deadline = time.monotonic() + LOCK_WAIT_S
    while not await repository.try_lock_school(tenant):
        if time.monotonic() > deadline:
            raise Conflict("A sync job is running for this school; tidy up when it has finished")
        await asyncio.sleep(0.2)


async def _leavers_class(tenant: Tenant, name: str) -> tuple[Class, bool]:
    """The class named ``name``, created when missing; Conflict when it is a class the sync manages."""
    cls = await classes_repository.find_by_name_key(tenant, classes_service.name_key(name))
    if cls is None:
        return await classes_service.create_class(tenant, name), True
    if cls.set_up and cls.mis_group_id is not None:
        raise Conflict(
            f"The class {cls.name!r} is mapped to an MIS group and set up for sync; choose another class_name",
            extra={"class_id": str(cls.id)},
        )
    return cls, False


async def _run(tenant: Tenant, req: TidyRequest) -> TidyResult:
    revoked = await pupils_service.set_access(
        tenant,
        pupils_repository.filter_conditions(tenant, PupilFilter(access="with", sync_status="desynced")),
        False,
        reason=REASON,
    )
    granted = await pupils_service.set_access(
        tenant,
        pupils_repository.filter_conditions(tenant, PupilFilter(access="without", sync_status="synced")),
        True,
        reason=REASON,
    )
    cls, created = await _leavers_class(tenant, req.class_name)
    without = pupils_repository.select_ids(tenant, PupilFilter(access="without"))
    ended = await repository.end_memberships_elsewhere(tenant, cls.id, without)
    added = await repository.add_to_class(tenant, cls.id, without)
    returned = await repository.remove_from_class(
        tenant, cls.id, pupils_repository.select_ids(tenant, PupilFilter(access="with"))
    )
    deleted = await repository.delete_empty_classes(tenant, keep=cls.id) if req.delete_empty_classes else []
    deleted.sort(key=lambda c: (c[2], str(c[0])))

    ended_by_pupil: dict[uuid.UUID, list[str]] = defaultdict(list)
    for pupil_id, class_id in ended:
        ended_by_pupil[pupil_id].append(str(class_id))
    moved = sorted(set(ended_by_pupil) | set(added), key=str)
    await audit.record_many(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="pupil.moved_to_leavers",
        entity_type="pupil",
        entries=[
            (pid, {"class_id": str(cls.id), "ended_class_ids": sorted(ended_by_pupil.get(pid, [])), "reason": REASON})
            for pid in moved
        ],
    )
    await audit.record_many(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="pupil.left_leavers",
        entity_type="pupil",
        entries=[(pid, {"class_id": str(cls.id), "reason": REASON}) for pid in returned],
    )
    await audit.record_many(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="class.deleted",
        entity_type="class",
        entries=[(cid, {"name": name, "reason": REASON}) for cid, name, _ in deleted],
    )
    result = TidyResult(
        dry_run=req.dry_run,
        revoked=len(revoked),
        granted=len(granted),
        moved=len(moved),
        memberships_ended=len(ended) + len(returned),
        returned=len(returned),
        leavers_class=LeaversClass(
            id=None if created and req.dry_run else cls.id,
            name=cls.name,
            created=created,
            pupil_count=(await classes_repository.pupil_counts(tenant, [cls.id])).get(cls.id, 0),
        ),
        deleted_classes=[ClassRef(id=cid, name=name) for cid, name, _ in deleted],
    )
    if any((revoked, granted, moved, returned, deleted, created)):
        summary: dict[str, Any] = result.model_dump(mode="json", exclude={"dry_run", "leavers_class"})
        await audit.record(
            tenant.session,
            school_id=tenant.school_id,
            actor=tenant.actor,
            action="leavers.tidied",
            entity_type="class",
            entity_id=cls.id,
            data=summary,
        )
    return result


async def tidy(tenant: Tenant, req: TidyRequest) -> TidyResult:
    """Run the tidy-up in the caller's transaction, or (``dry_run``) run it in a savepoint and roll it back.

    Waits up to ``LOCK_WAIT_S`` for a running sync job of the school (Conflict after that), and holds the
    school's sync lock until the transaction ends, so no sync interleaves.
    """
    await _wait_for_sync_lock(tenant)
    if not req.dry_run:
        return await _run(tenant, req)
    savepoint = await tenant.session.begin_nested()
    try:
        return await _run(tenant, req)
    finally:
        await savepoint.rollback()
