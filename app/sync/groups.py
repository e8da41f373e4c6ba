"""The ``registration_groups`` job: fetch the MIS registration groups with their pupil counts.

It also notes each group's lineage (the class that holds most of the group's pupils through their
MIS-managed memberships), which class mapping uses to suggest, after a rollover, that "8A" goes on
the class that was "7A". Groups missing from the answer are marked stale, never deleted.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

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
            select(Pupil.mis_id, ClassMembership.class_id)
            .join(ClassMembership, (ClassMembership.pupil_id == Pupil.id) & ClassMembership.mis_managed)
            .where(Pupil.school_id == run.school_id, Pupil.mis_id.is_not(None))  # type: ignore[union-attr]
        )
        class_of_mis_pupil = dict(rows.tuples().all())

    await run.progress("fetching_groups")
    groups = await connector.registration_groups()
    if await run.cancelled():
        return
    await run.progress("fetching_pupils", 0)
    members: dict[str, int] = Counter()
    lineage: dict[str, Counter[uuid.UUID]] = defaultdict(Counter)
    fetched = 0
    async for page in connector.pupils():
        for pupil in page:
            for gid in pupil.group_ids:
                members[gid] += 1
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
                        "year_group": g.year_group,
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
                MisRegistrationGroup.school_id == run.school_id,  # type: ignore[arg-type]
                MisRegistrationGroup.mis_group_id.not_in(seen),  # type: ignore[attr-defined]
                MisRegistrationGroup.stale.is_(False),
            )  # type: ignore[attr-defined]
            .values(stale=True)
        )
        counts = {"groups": len(groups), "pupils": fetched, "stale": int(stale.rowcount or 0)}  # type: ignore[attr-defined]
        await run.finish(session, job, "succeeded", counts=counts, warnings=list(connector.notes.warnings))
        school = await session.get(School, run.school_id)
        assert school is not None
        school.last_sync_at = now
        await session.commit()
    metrics.JOBS.labels(run.kind, "succeeded").inc()
    await run.publish({"id": str(run.job_id), "status": "succeeded"})
