"""The ``registration_groups`` job: fetch the MIS registration groups with their pupil counts.

It also notes each group's lineage (the class that holds most of the group's pupils through their
MIS-managed memberships), which class mapping uses to suggest, after a rollover, that "8A" goes on
the class that was "7A". Groups missing from the answer are marked stale, never deleted.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col

from app import metrics
from app.models import ClassMembership, MisRegistrationGroup, Pupil, School
from app.models.base import utcnow
from app.sync.mis_connection import connector_for
from app.sync.runner import JobRun, handles


@handles("registration_groups")
async def fetch_registration_groups(run: JobRun) -> None:
    services = run.services
    async with services.session_factory() as session:
        school = await session.get(School, run.school_id)
        assert school is not None
        connector = connector_for(school, services)
        # mis_id -> the class of the pupil's MIS-managed membership, for lineage.
        rows = await session.execute(
            select(col(Pupil.mis_id), col(ClassMembership.class_id))
            .join(ClassMembership, (col(ClassMembership.pupil_id) == col(Pupil.id)) & col(ClassMembership.mis_managed))
            .where(col(Pupil.school_id) == run.school_id, col(Pupil.mis_id).is_not(None))
        )
        class_of_mis_pupil = dict(rows.all())

    await run.progress("fetching_groups")
    groups = await connector.registration_groups()
    if await run.cancelled():
        return
    await run.progress("fetching_pupils", 0)
    members: dict[str, int] = Counter()
    # The members' own year groups say a group's year better than its name ("Oak", "6th Form", "L6A").
    member_years: dict[str, Counter[str]] = defaultdict(Counter)
    lineage: dict[str, Counter[uuid.UUID]] = defaultdict(Counter)
    fetched = 0
    async for page in connector.pupils():
        for pupil in page:
            for gid in pupil.group_ids:
                members[gid] += 1
                if pupil.year_group is not None:
                    member_years[gid][pupil.year_group] += 1
                if (cls := class_of_mis_pupil.get(pupil.mis_id)) is not None:
                    lineage[gid][cls] += 1
        fetched += len(page)
        await run.progress("fetching_pupils", fetched)
    metrics.PUPILS_PROCESSED.labels(connector.provider).inc(fetched)

    now = utcnow()
    async with services.session_factory() as session:
        job = await run.lock_job(session)
        if job.status != "running":
            return  # cancelled meanwhile
        seen = [g.mis_id for g in groups]
        if groups:
            stmt = pg_insert(MisRegistrationGroup).values(
                [
                    {
                        "id": uuid.uuid4(),
                        "school_id": run.school_id,
                        "mis_group_id": g.mis_id,
                        "name": g.name,
                        "year_group": member_years[g.mis_id].most_common(1)[0][0]
                        if member_years.get(g.mis_id)
                        else g.year_group,
                        "pupil_count": members.get(g.mis_id, 0),
                        "stale": False,
                        "lineage_class_id": lineage[g.mis_id].most_common(1)[0][0] if lineage.get(g.mis_id) else None,
                        "first_seen_at": now,
                        "last_seen_at": now,
                    }
                    for g in groups
                ]
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["school_id", "mis_group_id"],
                set_={
                    c: stmt.excluded[c]
                    for c in ("name", "year_group", "pupil_count", "stale", "lineage_class_id", "last_seen_at")
                },
            )
            await session.execute(stmt)
        stale = await session.execute(
            update(MisRegistrationGroup)
            .where(
                col(MisRegistrationGroup.school_id) == run.school_id,
                col(MisRegistrationGroup.mis_group_id).not_in(seen),
                col(MisRegistrationGroup.stale).is_(False),
            )
            .values(stale=True)
        )
        counts = {"groups": len(groups), "pupils": fetched, "stale": int(cast(CursorResult[Any], stale).rowcount or 0)}
        await run.finish(session, job, "succeeded", counts=counts, warnings=list(connector.notes.warnings))
        school = await session.get(School, run.school_id)
        assert school is not None
        school.last_sync_at = now
        await session.commit()
    metrics.JOBS.labels(run.kind, "succeeded").inc()
    await run.publish({"id": str(run.job_id), "status": "succeeded"})
