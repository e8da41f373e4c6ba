"""Reading what a pupils sync needs, in a handful of queries whatever the school's size.

Raw SQL on purpose: these read and write up to 100,000 rows per job, and the ORM's per-row
object building would dominate the run time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from asyncpg import Connection as AsyncpgConnection
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.reconcile import Decisions, RosterPupil

_ROSTER_SQL = """
    SELECT p.id, p.forename, p.surname, p.legal_forename, p.legal_surname, p.date_of_birth, p.upn,
           p.year_group, p.sync_status, p.mis_id, p.pending_deletion_until IS NOT NULL AS pending, m.class_id
    FROM pupils p
    LEFT JOIN LATERAL (
        -- The class the sync placed the pupil in; failing that, a hand-made membership of a class set up
        -- for sync, which already places the pupil there (the sync leaves hand-made memberships alone).
        SELECT cm.class_id FROM class_memberships cm JOIN classes c ON c.id = cm.class_id
        WHERE cm.pupil_id = p.id AND (cm.mis_managed OR (c.set_up AND c.mis_group_id IS NOT NULL))
        ORDER BY cm.mis_managed DESC, cm.created_at DESC LIMIT 1
    ) m ON true
    WHERE p.school_id = :school_id
"""
_ROSTER = text(_ROSTER_SQL)
_ONE_PUPIL = text(_ROSTER_SQL + " AND p.id = :pupil_id AND p.pending_deletion_until IS NULL")


def _roster_pupil(row: Any) -> RosterPupil:
    return RosterPupil(
        id=row.id,
        forename=row.forename,
        surname=row.surname,
        legal_forename=row.legal_forename,
        legal_surname=row.legal_surname,
        date_of_birth=row.date_of_birth,
        upn=row.upn,
        year_group=row.year_group,
        sync_status=row.sync_status,
        mis_id=row.mis_id,
        mis_class_id=row.class_id,
    )


async def load_roster(session: AsyncSession, school_id: uuid.UUID) -> tuple[list[RosterPupil], set[str]]:
    """The school's pupils for planning, and the MIS ids of pupils pending deletion.

    Pending pupils are left out of the roster (never matched) and their MIS records are left out of
    the plan (the school chose to delete that learner; a sync must not bring them back as new).
    """
    roster: list[RosterPupil] = []
    pending_mis_ids: set[str] = set()
    for row in await session.execute(_ROSTER, {"school_id": school_id}):
        if row.pending:
            if row.mis_id:
                pending_mis_ids.add(row.mis_id)
            continue
        roster.append(_roster_pupil(row))
    return roster, pending_mis_ids


async def roster_pupil(session: AsyncSession, school_id: uuid.UUID, pupil_id: uuid.UUID) -> RosterPupil | None:
    """One pupil as the planner sees it (None when gone or pending deletion)."""
    row = (await session.execute(_ONE_PUPIL, {"school_id": school_id, "pupil_id": pupil_id})).first()
    return None if row is None else _roster_pupil(row)


async def class_for_group(session: AsyncSession, school_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """MIS registration group id -> our class, for the classes mapped and set up for sync."""
    rows = await session.execute(
        text("SELECT mis_group_id, id FROM classes WHERE school_id = :s AND set_up AND mis_group_id IS NOT NULL"),
        {"s": school_id},
    )
    return {gid: cid for gid, cid in rows}


async def decisions(session: AsyncSession, school_id: uuid.UUID) -> Decisions:
    query = text("SELECT mis_id, pupil_id, decision FROM match_decisions WHERE school_id = :s")
    rows = (await session.execute(query, {"s": school_id})).all()
    return Decisions(
        confirmed=frozenset((m, p) for m, p, d in rows if d == "confirm"),
        rejected=frozenset((m, p) for m, p, d in rows if d == "reject"),
    )


async def roster_changed_since(
    session: AsyncSession, school_id: uuid.UUID, since: datetime, pupil_ids: Sequence[uuid.UUID]
) -> int:
    """How many pupils that could touch a plan made at ``since`` changed after it: any pupil added since,
    any of ``pupil_ids`` edited, linked, deleted or restored since, and any of them purged meanwhile."""
    row = (
        await session.execute(
            text("""
                SELECT (SELECT count(*) FROM pupils
                        WHERE school_id = :s AND (created_at > :since OR (updated_at > :since AND id = ANY(:ids))))
                     + (SELECT count(*) FROM unnest(CAST(:ids AS uuid[])) AS r(id)
                        WHERE NOT EXISTS (SELECT 1 FROM pupils p WHERE p.id = r.id AND p.school_id = :s))
            """),
            {"s": school_id, "since": since, "ids": list(pupil_ids)},
        )
    ).scalar_one()
    return int(row)


async def asyncpg_connection(session: AsyncSession) -> AsyncpgConnection:
    """The session's asyncpg connection, for COPY (inside the session's transaction)."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: AsyncpgConnection = raw.driver_connection
    return driver


async def copy_rows(session: AsyncSession, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY ``rows`` into ``table`` within the session's transaction."""
    driver = await asyncpg_connection(session)
    await driver.copy_records_to_table(table, records=rows, columns=list(columns))


def jsonb(value: Any) -> str:
    """A value for a jsonb column in COPY (SQLAlchemy's asyncpg codec takes JSON text)."""
    return orjson.dumps(value, default=str).decode()
