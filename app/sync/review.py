"""Reviewing and applying a plan from the API: list items, record decisions, ask a worker to apply.

Apply is checked here first, so the coordinator hears at once (409) when the plan is stale, held or
superseded; the worker checks again inside its transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, text
from sqlmodel import col

from app import audit
from app.errors import Conflict, ProblemError, Unprocessable
from app.models import SyncJob, SyncPlanItem
from app.pagination import Page, decode_cursor, encode_cursor
from app.reconcile import compute_changes
from app.reconcile.upn import valid_upn
from app.sync import roster as repo
from app.sync.apply import PlanStale, Selection, check_current, linked_twice, load_items, select_work
from app.sync.preview import misjson_to_record
from app.sync.schemas import ApplyRequest, CandidateOut, PlanItemOut, PlanTag
from app.tenancy import Tenant

DECIDABLE_TAGS = ("may_match", "matched")


def item_out(item: SyncPlanItem, applied: Selection | None) -> PlanItemOut:
    """An item as the API shows it; ``applied`` is the selection of the job's apply, if it succeeded."""
    return PlanItemOut(
        id=item.id,
        tag=item.tag,
        mis=item.mis,
        pupil_id=item.pupil_id,
        candidates=[CandidateOut.model_validate(c) for c in item.candidates],
        changes=item.changes,
        target_class_id=item.target_class_id,
        decision=item.decision,
        applied=applied is not None and applied.applies(item.id, item.tag, item.decision),
    )


async def list_items(
    tenant: Tenant, job: SyncJob, tag: PlanTag | None, limit: int, cursor: str | None
) -> Page[PlanItemOut]:
    """A page of the plan's items in plan order, optionally of one tag."""
    stmt = tenant.select(SyncPlanItem).where(col(SyncPlanItem.job_id) == job.id)
    count = tenant.select_columns(SyncPlanItem, func.count()).where(col(SyncPlanItem.job_id) == job.id)
    if tag is not None:
        stmt = stmt.where(col(SyncPlanItem.tag) == tag)
        count = count.where(col(SyncPlanItem.tag) == tag)
    if cursor:
        (after,) = decode_cursor(cursor, f"items:{tag or ''}")
        stmt = stmt.where(col(SyncPlanItem.seq) > int(after))
    rows = list((await tenant.session.execute(stmt.order_by(col(SyncPlanItem.seq)).limit(limit + 1))).scalars())
    next_cursor = encode_cursor(f"items:{tag or ''}", [rows[limit - 1].seq]) if len(rows) > limit else None
    total = int((await tenant.session.execute(count)).scalar_one())
    applied = Selection(job.params.get("selection") or {}) if job.status == "succeeded" else None
    return Page[PlanItemOut](items=[item_out(r, applied) for r in rows[:limit]], next_cursor=next_cursor, total=total)


async def _check_item_ids(tenant: Tenant, job: SyncJob, body: ApplyRequest) -> None:
    named = {*body.include, *body.exclude, *body.decisions, *body.links}
    if not named:
        return
    rows = await tenant.session.execute(
        tenant.select_columns(SyncPlanItem, col(SyncPlanItem.id), col(SyncPlanItem.tag)).where(
            col(SyncPlanItem.job_id) == job.id, col(SyncPlanItem.id).in_(named)
        )
    )
    tags = dict(rows.all())
    errors = [ProblemError(loc=["body", "items"], msg=f"{i} is not an item of this plan") for i in named - set(tags)]
    errors += [
        ProblemError(loc=["body", "decisions", str(i)], msg=f"a {tags[i]} item takes no decision")
        for i in body.decisions
        if i in tags and tags[i] not in DECIDABLE_TAGS
    ]
    errors += [
        ProblemError(loc=["body", "links", str(i)], msg=f"a {tags[i]} item links no other pupil")
        for i in body.links
        if i in tags and tags[i] not in DECIDABLE_TAGS
    ]
    errors += [
        ProblemError(loc=["body", "links", str(i)], msg="a rejected item links no pupil")
        for i in body.links
        if body.decisions.get(i) == "reject"
    ]
    if errors:
        raise Unprocessable("Some items cannot be applied as asked; nothing was changed", errors=errors[:100])


async def _link_chosen_candidates(tenant: Tenant, job: SyncJob, links: dict[uuid.UUID, uuid.UUID]) -> None:
    """Point each item at the candidate the coordinator chose, with the changes linking that pupil makes."""
    items = {
        i.id: i
        for i in (
            await tenant.session.execute(
                tenant.select(SyncPlanItem).where(col(SyncPlanItem.job_id) == job.id, col(SyncPlanItem.id).in_(links))
            )
        ).scalars()
    }
    mapping = {g: uuid.UUID(c) for g, c in (job.params.get("class_for_group") or {}).items()}
    errors = []
    for item_id, pupil_id in links.items():
        item = items[item_id]
        if pupil_id not in {uuid.UUID(c["pupil_id"]) for c in item.candidates}:
            errors.append(ProblemError(loc=["body", "links", str(item_id)], msg=f"{pupil_id} is not a candidate"))
            continue
        roster = await repo.roster_pupil(tenant.session, tenant.school_id, pupil_id)
        if roster is None:
            raise Conflict("A chosen pupil no longer exists; run a new preview")
        mis = misjson_to_record(item.mis or {})
        item.pupil_id = pupil_id
        item.decision = "confirm"
        item.changes = {
            k: [None if v is None else str(v) for v in pair]
            for k, pair in compute_changes(roster, mis, mapping, valid_upn(mis.upn)).items()
        }
    if errors:
        raise Unprocessable("Some items cannot be applied as asked; nothing was changed", errors=errors[:100])
    await tenant.session.flush()


async def request_apply(tenant: Tenant, job_id: uuid.UUID, body: ApplyRequest) -> SyncJob:
    """Record decisions and the selection, and move the job to ``applying`` (the caller enqueues it)."""
    job = await tenant.get(SyncJob, job_id, "sync job")
    await tenant.session.refresh(job, with_for_update=True)
    if job.kind != "pupils":
        raise Conflict("Only a pupils job has a plan to apply")
    if job.status == "cancelled":
        reason = (job.error or {}).get("detail") or "The job was cancelled"
        raise Conflict(f"This plan can no longer be applied: {reason}")
    if job.status == "held" and not body.override_guard:
        raise Conflict(
            "The safety guard held this plan: "
            + ((job.guard or {}).get("reason") or "")
            + " Apply with override_guard: true if it is right.",
            extra={"guard": job.guard},
        )
    if job.status not in ("awaiting_review", "held"):
        raise Conflict(f"The job is {job.status}; only a plan awaiting review (or held) can be applied")
    await _check_item_ids(tenant, job, body)
    if body.decisions:
        await tenant.session.execute(
            text("""
            UPDATE sync_plan_items i SET decision = v.decision
            FROM unnest(CAST(:ids AS uuid[]), CAST(:decisions AS text[])) AS v(id, decision)
            WHERE i.id = v.id AND i.job_id = :job_id
        """),
            {"ids": list(body.decisions), "decisions": list(body.decisions.values()), "job_id": job.id},
        )
    if body.links:
        await _link_chosen_candidates(tenant, job, body.links)
    selection: dict[str, Any] = body.model_dump(mode="json", include={"select", "include", "exclude"})
    work = select_work(await load_items(await repo.asyncpg_connection(tenant.session), job.id), selection)
    if twice := linked_twice(work):
        raise Unprocessable(
            f"{len(twice)} pupils would be linked by two items; confirm only one item for each",
            extra={"pupil_ids": [str(p) for p in twice[:100]]},
        )
    try:
        await check_current(tenant.session, job, work)
    except PlanStale as exc:
        raise Conflict(str(exc)) from exc
    job.status = "applying"
    job.progress = {"phase": "applying", "done": 0, "total": None}
    job.params = {
        **job.params,
        "selection": selection,
        "applied_by": tenant.actor,
        "override_guard": body.override_guard,
    }
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="sync_job.apply_requested",
        entity_type="sync_job",
        entity_id=job.id,
        job_id=job.id,
        data={
            "select": body.select,
            "include": len(body.include),
            "exclude": len(body.exclude),
            "decisions": len(body.decisions),
            "override_guard": body.override_guard,
        },
    )
    return job
