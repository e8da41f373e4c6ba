"""The ``pupils`` job: fetch, match, plan (preview), and in ``apply`` mode apply what needs no decision.

The plan's items and the job's new status are written in one transaction, so a worker killed during a
preview leaves nothing behind and the job simply runs again. Creating a plan supersedes the school's
older plans that were never applied (they end ``cancelled``). In ``apply`` mode the first plan of a new
academic year is held for review (guard kind ``rollover``): promotion is a decision.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import orjson

from app import metrics, year_groups
from app.mis.records import MisPupil
from app.models import School, SyncJob
from app.models.base import utcnow
from app.reconcile import Decisions, Plan, PlanItem, RosterPupil, build_plan, target_class
from app.sync import roster as repo
from app.sync.apply import apply_plan
from app.sync.mis_connection import connector_for
from app.sync.runner import JobRun, handles
from app.sync.service import cancel_open_plans

_ITEM_COLUMNS = (
    "school_id",
    "job_id",
    "seq",
    "tag",
    "mis",
    "mis_id",
    "pupil_id",
    "candidates",
    "changes",
    "target_class_id",
    "decision",
)


def mis_json(p: MisPupil) -> str:
    """The MIS pupil as the plan shows it: the normalised record's fields (``app.mis.records.MisPupil``),
    serialised straight from the dataclass."""
    return orjson.dumps(p).decode()


def misjson_to_record(data: dict[str, Any]) -> MisPupil:
    """The MIS pupil back from its plan item (the inverse of ``mis_json``)."""
    dob = data.get("date_of_birth")
    return MisPupil(
        mis_id=data["mis_id"],
        forename=data["forename"],
        surname=data["surname"],
        legal_forename=data.get("legal_forename"),
        legal_surname=data.get("legal_surname"),
        date_of_birth=date.fromisoformat(dob) if dob else None,
        upn=data.get("upn"),
        gender=data.get("gender"),
        year_group=data.get("year_group"),
        group_ids=tuple(data.get("group_ids") or ()),
    )


def _change_json(changes: dict[str, tuple[Any, Any]]) -> str:
    if not changes:
        return "{}"
    return repo.jsonb(
        {k: [v if v is None or isinstance(v, str) else str(v) for v in pair] for k, pair in changes.items()}
    )


def _row(job: SyncJob, seq: int, item: PlanItem, class_for_group: dict[str, uuid.UUID]) -> tuple[Any, ...]:
    """A plan item as a COPY record (the id is left to PostgreSQL)."""
    mis = item.mis
    candidates = (
        repo.jsonb(
            [{"pupil_id": str(c.pupil_id), "score": round(c.score, 3), "reasons": c.reasons} for c in item.candidates]
        )
        if item.candidates
        else "[]"
    )
    return (
        job.school_id,
        job.id,
        seq,
        item.tag,
        mis_json(mis) if mis is not None else None,
        mis.mis_id if mis is not None else None,
        item.pupil_id,
        candidates,
        _change_json(item.changes),
        target_class(mis, class_for_group) if mis is not None else None,
        None,
    )


def _in_scope(
    pupils: list[MisPupil], class_for_group: dict[str, uuid.UUID], chosen: set[str] | None, skip_ids: set[str]
) -> list[MisPupil]:
    """MIS pupils of the set-up groups (and chosen year groups), without pupils pending deletion here."""
    return [
        p
        for p in pupils
        if p.mis_id not in skip_ids
        and any(g in class_for_group for g in p.group_ids)
        and (chosen is None or p.year_group in chosen)
    ]


async def _load_inputs(run: JobRun) -> tuple[dict[str, uuid.UUID], tuple[list[RosterPupil], set[str]], Decisions]:
    """The class mapping, the roster and the remembered decisions, in a session of their own."""
    async with run.services.session_factory() as session:
        return (
            await repo.class_for_group(session, run.school_id),
            await repo.load_roster(session, run.school_id),
            await repo.decisions(session, run.school_id),
        )


@handles("pupils")
async def run_pupils_job(run: JobRun) -> None:
    services = run.services
    async with services.session_factory() as session:
        job = await session.get(SyncJob, run.job_id)
        assert job is not None
        if job.status == "applying":
            await apply_plan(run)
            return
        school = await session.get(School, run.school_id)
        assert school is not None
        connector = connector_for(school, services)
        mode, chosen = job.mode, job.params.get("year_groups")

    # The roster is read while the MIS answers (an I/O overlap that saves its whole read time). The plan is
    # stamped with a time taken before that read: any roster change after it makes apply refuse.
    planned_at = utcnow()
    inputs = asyncio.create_task(_load_inputs(run))
    await run.progress("fetching_pupils", 0)
    pupils: list[MisPupil] = []
    try:
        async for page in connector.pupils():
            pupils.extend(page)
            if await run.progress("fetching_pupils", len(pupils)) and await run.cancelled():
                return
        mapping, (roster, pending_mis_ids), decisions = await inputs
    finally:
        inputs.cancel()
    metrics.PUPILS_PROCESSED.labels(connector.provider).inc(len(pupils))

    await run.progress("matching", 0, len(pupils))
    async with services.session_factory() as session:
        job = await run.lock_job(session)
        if job.status != "running":
            return  # cancelled meanwhile
        scope = _in_scope(
            pupils, mapping, {year_groups.parse(y) or y for y in chosen} if chosen else None, pending_mis_ids
        )
        groups_in_answer = {g for p in pupils for g in p.group_ids if g in mapping}
        # Planning is CPU work: in a thread, so a huge school does not stall the worker's other jobs
        # (their fetches and heartbeats go on). In apply mode the guard holds a new academic year.
        plan: Plan = await asyncio.to_thread(
            build_plan,
            roster,
            scope,
            mapping,
            decisions,
            fetch_complete=True,
            group_count=len(groups_in_answer),
            hold_new_year=mode == "apply",
        )
        await repo.copy_rows(
            session,
            "sync_plan_items",
            _ITEM_COLUMNS,
            (_row(job, seq, item, mapping) for seq, item in enumerate(plan.items)),
        )
        # Older plans of this school that were never applied can no longer be applied.
        await cancel_open_plans(
            session, [run.school_id], f"A newer plan ({run.job_id}) replaced this one", keep=run.job_id
        )
        warnings = list(connector.notes.warnings)
        if plan.reports.invalid_upn_mis_ids:
            warnings.append(
                f"{len(plan.reports.invalid_upn_mis_ids)} MIS pupils have an invalid UPN "
                f"(ignored for matching): MIS ids {', '.join(plan.reports.invalid_upn_mis_ids[:20])}"
            )
        job.params = {
            **job.params,
            "planned_at": planned_at.isoformat(),
            "class_for_group": {g: str(c) for g, c in mapping.items()},
        }
        job.counts = dict(plan.counts)
        job.warnings = warnings
        guard = plan.guard
        job.guard = (
            {"held": guard.held, "kind": guard.kind, "reason": guard.reason, "numbers": guard.numbers}
            if guard
            else None
        )
        if guard is not None and guard.held:
            await run.finish(session, job, "held")
        elif mode == "apply":
            job.status = "applying"
            job.params = {**job.params, "selection": {"select": "all", "include": [], "exclude": []}}
            await session.commit()
            await apply_plan(run)
            return
        else:
            await run.finish(session, job, "awaiting_review")
        await session.commit()
    metrics.JOBS.labels(run.kind, job.status).inc()
    await run.publish({"id": str(run.job_id), "status": job.status})
