"""Applying a plan: every selected item or none, in one transaction, with set-based statements.

The number of SQL statements does not grow with the number of pupils: creates go in with COPY,
updates with one ``UPDATE ... FROM unnest(...)``, class moves with one delete and one insert.
A sync never deletes a pupil, a result or a class; it only removes MIS-managed memberships that a
promotion replaces.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from asyncpg import Connection as AsyncpgConnection
from asyncpg.exceptions import UniqueViolationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics, year_groups
from app.models import School, SyncJob
from app.models.base import utcnow
from app.pupils.derived import derived_columns
from app.reconcile.upn import valid_upn
from app.sync import roster as repo
from app.sync.runner import JobRun

PUPIL_FIELDS = ("forename", "surname", "legal_forename", "legal_surname", "date_of_birth", "upn", "year_group")


class PlanStale(Exception):
    """The roster or the class mapping changed since the plan was made; a new preview is needed."""


@dataclass
class Item:
    id: uuid.UUID
    tag: str
    mis: dict[str, Any] | None
    mis_id: str | None
    pupil_id: uuid.UUID | None
    candidates: list[dict[str, Any]]
    changes: dict[str, list[Any]]
    target_class_id: uuid.UUID | None
    decision: str | None


@dataclass
class Work:
    """What applying the selected items will do, sorted by kind."""

    creates: list[Item] = field(default_factory=list)
    links: list[Item] = field(default_factory=list)
    updates: list[Item] = field(default_factory=list)
    desyncs: list[Item] = field(default_factory=list)
    skipped: int = 0

    def referenced_pupils(self) -> list[uuid.UUID]:
        return [i.pupil_id for i in (*self.links, *self.updates, *self.desyncs) if i.pupil_id is not None]


_EMPTY_JSON: dict[str | None, Any] = {"{}": {}, "[]": [], None: None}


def _loads(text: str | None) -> Any:
    # Most items carry no changes and no candidates: skip decoding for those.
    return _EMPTY_JSON[text] if text in _EMPTY_JSON else orjson.loads(text)  # type: ignore[arg-type]


async def load_items(driver: AsyncpgConnection, job_id: uuid.UUID) -> list[Item]:
    """The plan's items. JSON columns come as text and are decoded only when not empty (fast path for
    the thousands of items of a big school)."""
    rows = await driver.fetch(
        # Only items that may create a pupil need the MIS record; a rollover's promotions carry changes only.
        "SELECT id, tag, CASE WHEN tag IN ('new', 'matched', 'may_match') THEN mis::text END, mis_id, pupil_id,"
        " candidates::text, changes::text, target_class_id, decision"
        " FROM sync_plan_items WHERE job_id = $1 ORDER BY seq",
        job_id,
    )
    return [
        Item(r[0], r[1], _loads(r[2]), r[3], r[4], _loads(r[5]) or [], _loads(r[6]) or {}, r[7], r[8]) for r in rows
    ]


class Selection:
    """Which items an apply takes: ``select: all`` every item but ``exclude``; ``none`` only ``include``."""

    def __init__(self, selection: dict[str, Any]) -> None:
        self.take_all = selection.get("select", "all") == "all"
        self.include = {str(i) for i in selection.get("include") or []}
        self.exclude = {str(i) for i in selection.get("exclude") or []}

    def chosen(self, item_id: uuid.UUID) -> bool:
        sid = str(item_id)
        return sid not in self.exclude if self.take_all else sid in self.include

    def applies(self, item_id: uuid.UUID, tag: str, decision: str | None) -> bool:
        """Whether applying this selection applies the item (``not_matched`` and undecided
        ``may_match`` items never are)."""
        if tag == "not_matched" or (tag == "may_match" and decision is None):
            return False
        return self.chosen(item_id)


def select_work(items: Iterable[Item], selection: dict[str, Any]) -> Work:
    """Sort the selected items by what applying them does.

    A ``may_match`` is applied only with a decision (confirm links, reject creates a new pupil); a
    ``matched`` item rejected also creates a new pupil. ``not_matched`` items change nothing.
    """
    chooser = Selection(selection)
    work = Work()
    for item in items:
        if not chooser.chosen(item.id) or item.tag == "not_matched":
            continue
        if item.tag in ("matched", "may_match"):
            if item.decision == "reject":
                work.creates.append(item)
            elif item.decision == "confirm" or item.tag == "matched":
                work.links.append(item)
            else:
                work.skipped += 1
        elif item.tag == "new":
            work.creates.append(item)
        elif item.tag in ("synced", "resynced"):
            work.updates.append(item)
        elif item.tag == "desynced":
            work.desyncs.append(item)
    return work


def linked_twice(work: Work) -> list[uuid.UUID]:
    """Pupils that two selected items would link (a coordinator must settle which)."""
    seen: set[uuid.UUID] = set()
    twice = []
    for item in work.links:
        if item.pupil_id in seen:
            twice.append(item.pupil_id)
        seen.add(item.pupil_id)  # type: ignore[arg-type]
    return [p for p in twice if p is not None]


async def check_current(session: AsyncSession, job: SyncJob, work: Work) -> None:
    """PlanStale unless the class mapping and the pupils the plan touches are as they were at preview."""
    mapping_then = job.params.get("class_for_group") or {}
    mapping_now = {g: str(c) for g, c in (await repo.class_for_group(session, job.school_id)).items()}
    if mapping_now != mapping_then:
        raise PlanStale("The class mapping changed since this plan was made; run a new preview")
    planned_at = datetime.fromisoformat(job.params["planned_at"])
    changed = await repo.roster_changed_since(session, job.school_id, planned_at, work.referenced_pupils())
    if changed:
        raise PlanStale(
            f"{changed} pupils were added or changed since this plan was made "
            "(by hand or by another sync); run a new preview"
        )


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _new_pupil_row(item: Item, school_id: uuid.UUID, now: datetime) -> tuple[uuid.UUID, tuple[Any, ...]]:
    m = item.mis or {}
    upn = valid_upn(m.get("upn"))
    yg = m.get("year_group")
    derived = derived_columns(
        forename=m["forename"],
        surname=m["surname"],
        legal_forename=m.get("legal_forename"),
        legal_surname=m.get("legal_surname"),
        upn=upn,
        year_group=yg,
    )
    pid = uuid.uuid4()
    return pid, (
        pid,
        school_id,
        m["forename"],
        m["surname"],
        m.get("legal_forename"),
        m.get("legal_surname"),
        _date(m.get("date_of_birth")),
        upn,
        m.get("gender"),
        yg,
        derived["year_rank"],
        "synced",
        True,
        item.mis_id,
        None,
        derived["sort_key"],
        derived["search_text"],
        now,
        now,
    )


_PUPIL_COLUMNS = (
    "id",
    "school_id",
    "forename",
    "surname",
    "legal_forename",
    "legal_surname",
    "date_of_birth",
    "upn",
    "gender",
    "year_group",
    "year_rank",
    "sync_status",
    "has_access",
    "mis_id",
    "pending_deletion_until",
    "sort_key",
    "search_text",
    "created_at",
    "updated_at",
)
_AUDIT_COLUMNS = ("school_id", "actor", "action", "entity_type", "entity_id", "job_id", "data", "created_at")


#: Fields that feed ``sort_key`` and ``search_text``: only a change of these needs the pupil's other names.
_NAME_FIELDS = frozenset({"forename", "surname", "legal_forename", "legal_surname", "upn"})
_UPDATE_COLUMNS = ("id", "mis_id", *PUPIL_FIELDS, "year_rank", "sort_key", "search_text")


async def _update_pupils(driver: AsyncpgConnection, school_id: uuid.UUID, items: list[Item], now: datetime) -> None:
    """Link and update pupils from their items' MIS ids and changes, in one statement.

    A change never sets a field to null (the MIS leaving a field empty is not a change), so a null in
    the arrays means "keep": only changed values travel, and the pupils' current names are read only
    for the few whose names change (a promotion changes year groups and classes, not names)."""
    if not items:
        return
    renamed = [i.pupil_id for i in items if _NAME_FIELDS & i.changes.keys()]
    current = (
        {
            r["id"]: dict(r)
            for r in await driver.fetch(
                "SELECT id, forename, surname, legal_forename, legal_surname, upn FROM pupils"
                " WHERE school_id = $1 AND id = ANY($2::uuid[])",
                school_id,
                renamed,
            )
        }
        if renamed
        else {}
    )
    cols: dict[str, list[Any]] = {k: [] for k in _UPDATE_COLUMNS}
    for item in items:
        new = {name: pair[1] for name, pair in item.changes.items() if name in PUPIL_FIELDS}
        cols["id"].append(item.pupil_id)
        cols["mis_id"].append(item.mis_id)
        for name in PUPIL_FIELDS:
            value = new.get(name)
            cols[name].append(_date(value) if name == "date_of_birth" else value)
        rank = year_groups.rank(new["year_group"]) if "year_group" in new else None
        cols["year_rank"].append(rank)
        sort_key = search_text = None
        if item.pupil_id in current:
            row = {**current[item.pupil_id], **new}
            derived = derived_columns(
                forename=row["forename"],
                surname=row["surname"],
                legal_forename=row["legal_forename"],
                legal_surname=row["legal_surname"],
                upn=row["upn"],
                year_group=None,
            )
            sort_key, search_text = derived["sort_key"], derived["search_text"]
        cols["sort_key"].append(sort_key)
        cols["search_text"].append(search_text)
    await driver.execute(
        """
        UPDATE pupils p SET mis_id = v.mis_id, sync_status = 'synced',
            forename = coalesce(v.forename, p.forename), surname = coalesce(v.surname, p.surname),
            legal_forename = coalesce(v.legal_forename, p.legal_forename),
            legal_surname = coalesce(v.legal_surname, p.legal_surname),
            date_of_birth = coalesce(v.date_of_birth, p.date_of_birth), upn = coalesce(v.upn, p.upn),
            year_group = coalesce(v.year_group, p.year_group), year_rank = coalesce(v.year_rank, p.year_rank),
            sort_key = coalesce(v.sort_key, p.sort_key), search_text = coalesce(v.search_text, p.search_text),
            updated_at = $13
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[], $8::text[],
                    $9::text[], $10::int[], $11::text[], $12::text[])
            AS v(id, mis_id, forename, surname, legal_forename, legal_surname, date_of_birth, upn, year_group,
                 year_rank, sort_key, search_text)
        WHERE p.id = v.id AND p.school_id = $14
        """,
        *(cols[k] for k in _UPDATE_COLUMNS),
        now,
        school_id,
    )


async def _move_classes(
    driver: AsyncpgConnection, school_id: uuid.UUID, moves: list[tuple[uuid.UUID, uuid.UUID]], now: datetime
) -> None:
    """Put each pupil in its target class; its other MIS-managed memberships end. Hand-made memberships
    are never changed or removed, even one in the target class (it stays hand-made)."""
    if not moves:
        return
    pupils = [p for p, _ in moves]
    classes = [c for _, c in moves]
    await driver.execute(
        """
        DELETE FROM class_memberships cm USING unnest($1::uuid[], $2::uuid[]) AS v(pupil_id, class_id)
        WHERE cm.school_id = $3 AND cm.pupil_id = v.pupil_id AND cm.mis_managed AND cm.class_id <> v.class_id
    """,
        pupils,
        classes,
        school_id,
    )
    await driver.execute(
        """
        INSERT INTO class_memberships (class_id, pupil_id, school_id, mis_managed, created_at)
        SELECT v.class_id, v.pupil_id, $3, true, $4 FROM unnest($1::uuid[], $2::uuid[]) AS v(pupil_id, class_id)
        ON CONFLICT (class_id, pupil_id) DO NOTHING
    """,
        pupils,
        classes,
        school_id,
        now,
    )


def _audit_rows(
    work: Work,
    created: list[tuple[Item, uuid.UUID]],
    school_id: uuid.UUID,
    job_id: uuid.UUID,
    actor: str,
    now: datetime,
) -> Iterable[tuple[Any, ...]]:
    def row(action: str, pupil_id: uuid.UUID | None, data: dict[str, Any]) -> tuple[Any, ...]:
        return (school_id, actor, action, "pupil", str(pupil_id), job_id, repo.jsonb(data), now)

    for item, pid in created:
        yield row(
            "pupil.created",
            pid,
            {
                "mis_id": item.mis_id,
                "class_id": str(item.target_class_id) if item.target_class_id else None,
                "tag": item.tag,
            },
        )
    # One event per pupil, naming every field it changed with its value before and after.
    for item in work.links:
        yield row(
            "pupil.linked",
            item.pupil_id,
            {"mis_id": item.mis_id, "tag": item.tag, "decision": item.decision, "changes": item.changes},
        )
    for item in work.updates:
        if item.changes or item.tag == "resynced":
            action = "pupil.resynced" if item.tag == "resynced" else "pupil.updated"
            yield row(action, item.pupil_id, {"mis_id": item.mis_id, "changes": item.changes})
    for item in work.desyncs:
        yield row("pupil.desynced", item.pupil_id, {"mis_id": None})


async def write(session: AsyncSession, job: SyncJob, work: Work, actor: str) -> dict[str, int]:
    """Apply ``work`` in the session's transaction; returns what was done."""
    driver = await repo.asyncpg_connection(session)
    now = utcnow()
    school_id = job.school_id
    created = [(item, *_new_pupil_row(item, school_id, now)) for item in work.creates]
    await driver.copy_records_to_table("pupils", records=[r for _, _, r in created], columns=list(_PUPIL_COLUMNS))
    # An unchanged synced pupil is not touched: a nightly resync of a settled school writes nothing.
    changing = [*work.links, *(i for i in work.updates if i.changes or i.tag == "resynced")]
    await _update_pupils(driver, school_id, changing, now)
    # A pupil linked to a new MIS record here (a confirmed may-match of a pupil whose MIS id vanished)
    # is synced, not desynced, even though the plan also listed it as gone.
    linked = {i.pupil_id for i in work.links}
    work.desyncs = [i for i in work.desyncs if i.pupil_id not in linked]
    if work.desyncs:
        await driver.execute(
            "UPDATE pupils SET sync_status = 'desynced', updated_at = $1 WHERE school_id = $2 AND id = ANY($3::uuid[])",
            now,
            school_id,
            [i.pupil_id for i in work.desyncs],
        )
    moves = [(pid, item.target_class_id) for item, pid, _ in created if item.target_class_id is not None]
    moves += [
        (item.pupil_id, item.target_class_id)
        for item in changing
        if "class_id" in item.changes and item.target_class_id is not None and item.pupil_id is not None
    ]
    await _move_classes(driver, school_id, moves, now)
    decisions: list[tuple[Any, ...]] = [
        (school_id, item.mis_id, uuid.UUID(c["pupil_id"]), "reject", job.id, now)
        for item in work.creates
        if item.decision == "reject"
        for c in item.candidates
    ]
    decisions += [
        (school_id, item.mis_id, item.pupil_id, "confirm", job.id, now)
        for item in work.links
        if item.decision == "confirm"
    ]
    if decisions:
        await driver.executemany(
            """
            INSERT INTO match_decisions (school_id, mis_id, pupil_id, decision, job_id, created_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (school_id, mis_id, pupil_id) DO UPDATE SET decision = excluded.decision,
                job_id = excluded.job_id, created_at = excluded.created_at
        """,
            decisions,
        )
    await driver.copy_records_to_table(
        "audit_events",
        records=list(_audit_rows(work, [(i, p) for i, p, _ in created], school_id, job.id, actor, now)),
        columns=list(_AUDIT_COLUMNS),
    )
    return {
        "created": len(work.creates),
        "linked": len(work.links),
        "updated": sum(1 for i in (*work.links, *work.updates) if i.changes),
        "resynced": sum(1 for i in work.updates if i.tag == "resynced"),
        "desynced": len(work.desyncs),
        "skipped": work.skipped,
    }


async def apply_plan(run: JobRun) -> None:
    """The apply phase of a pupils job (status ``applying``): all selected items or none."""
    await run.progress("applying")  # before locking the job row, which progress updates too
    async with run.services.session_factory() as session:
        job = await run.lock_job(session)
        if job.status != "applying":
            return
        driver = await repo.asyncpg_connection(session)
        work = select_work(await load_items(driver, job.id), job.params.get("selection") or {})
        try:
            # The pupils the plan touches are locked until commit: a hand edit waits for the apply and
            # then lands on top of it, instead of being checked here and overwritten below.
            await driver.execute(
                "SELECT 1 FROM pupils WHERE school_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE",
                job.school_id,
                work.referenced_pupils(),
            )
            await check_current(session, job, work)
            async with session.begin_nested():  # a unique clash (a raced link) is a stale plan, not a crash
                result = await write(session, job, work, job.params.get("applied_by") or "system")
        except (PlanStale, IntegrityError, UniqueViolationError) as exc:
            detail = (
                str(exc)
                if isinstance(exc, PlanStale)
                else (
                    "The roster changed while the plan was applied (an MIS id is linked elsewhere); run a new preview"
                )
            )
            await run.finish(
                session,
                job,
                "failed",
                error={
                    "type": "https://misync.dev/problems/plan-stale",
                    "title": "Plan is out of date",
                    "status": 409,
                    "detail": detail,
                },
            )
            await session.commit()
            metrics.JOBS.labels(run.kind, "failed").inc()
            return
        job.params = {**job.params, "applied": result}
        await run.finish(session, job, "succeeded")
        school = await session.get(School, job.school_id)
        assert school is not None
        school.last_sync_at = utcnow()
        await session.commit()
    metrics.JOBS.labels(run.kind, "succeeded").inc()
    await run.publish({"id": str(run.job_id), "status": "succeeded"})
