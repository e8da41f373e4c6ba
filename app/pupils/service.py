"""Pupil decisions: what may be created or changed by hand, and how a pupil is shown."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col

from app import audit
from app.errors import NotFound, ProblemError, Unprocessable
from app.models import Class, ClassMembership, Pupil
from app.models.base import utcnow
from app.pagination import decode_cursor, encode_cursor
from app.pupils import repository
from app.pupils.derived import derived_columns
from app.pupils.schemas import Changed, PupilCreate, PupilFilter, PupilOut, PupilPatch, PupilSelection, PupilSort
from app.tenancy import Tenant

#: Fields a PATCH may change but not clear (``null``): the columns are NOT NULL.
_REQUIRED = ("forename", "surname", "has_access")


#: The fields of PupilOut, in its order.
PUPIL_OUT_FIELDS = tuple(PupilOut.model_fields)


def to_out(pupil: Pupil, class_ids: list[uuid.UUID]) -> PupilOut:
    # The row was validated on its way in; constructing skips validating it again on every read.
    return PupilOut.model_construct(**pupil.model_dump(), class_ids=class_ids)


async def show(tenant: Tenant, pupil: Pupil) -> PupilOut:
    return to_out(pupil, (await repository.class_ids_of(tenant, [pupil.id])).get(pupil.id, []))


async def get(tenant: Tenant, pupil_id: uuid.UUID) -> Pupil:
    return await tenant.get(Pupil, pupil_id, "pupil")


def _apply_derived(pupil: Pupil) -> None:
    for name, value in derived_columns(
        forename=pupil.forename,
        surname=pupil.surname,
        legal_forename=pupil.legal_forename,
        legal_surname=pupil.legal_surname,
        upn=pupil.upn,
        year_group=pupil.year_group,
    ).items():
        setattr(pupil, name, value)


async def ensure_classes(tenant: Tenant, class_ids: Sequence[uuid.UUID]) -> None:
    """NotFound unless every id is a class of this school."""
    wanted = set(class_ids)
    if not wanted:
        return
    found = set(
        (await tenant.session.execute(tenant.select_columns(Class, col(Class.id)).where(col(Class.id).in_(wanted))))
        .scalars()
        .all()
    )
    if missing := wanted - found:
        raise NotFound(f"No class with id {sorted(map(str, missing))[0]}")


async def create(tenant: Tenant, body: PupilCreate) -> PupilOut:
    """Add a pupil by hand: ``manual``, in the given classes by hand-made memberships."""
    await ensure_classes(tenant, body.class_ids)
    pupil = Pupil(school_id=tenant.school_id, sync_status="manual", **body.model_dump(exclude={"class_ids"}))
    _apply_derived(pupil)
    tenant.session.add(pupil)
    await tenant.session.flush()
    class_ids = list(dict.fromkeys(body.class_ids))
    if class_ids:
        await tenant.session.execute(
            pg_insert(ClassMembership),
            [
                {
                    "class_id": c,
                    "pupil_id": pupil.id,
                    "school_id": tenant.school_id,
                    "mis_managed": False,
                    "created_at": utcnow(),
                }
                for c in class_ids
            ],
        )
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="pupil.created",
        entity_type="pupil",
        entity_id=pupil.id,
        data={"class_ids": [str(c) for c in class_ids]},
    )
    return to_out(pupil, class_ids)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


async def patch(tenant: Tenant, pupil_id: uuid.UUID, body: PupilPatch) -> PupilOut:
    """Change fields by hand; each change is audited with its old and new value."""
    pupil = await get(tenant, pupil_id)
    fields = body.model_dump(exclude_unset=True)
    if nulls := [f for f in _REQUIRED if f in fields and fields[f] is None]:
        raise Unprocessable(
            "forename, surname and has_access cannot be null",
            errors=[ProblemError(loc=["body", f], msg="may not be null") for f in nulls],
        )
    changes = {k: [_jsonable(getattr(pupil, k)), _jsonable(v)] for k, v in fields.items() if getattr(pupil, k) != v}
    if changes:
        for k, v in fields.items():
            setattr(pupil, k, v)
        _apply_derived(pupil)
        pupil.updated_at = utcnow()
        await tenant.session.flush()
        await audit.record(
            tenant.session,
            school_id=tenant.school_id,
            actor=tenant.actor,
            action="pupil.updated",
            entity_type="pupil",
            entity_id=pupil.id,
            data={"changes": changes},
        )
    return await show(tenant, pupil)


async def list_page(tenant: Tenant, f: PupilFilter, sort: PupilSort, limit: int, cursor: str | None) -> bytes:
    """One page of pupils as the JSON of ``Page[PupilOut]``; the first page (no cursor) also carries the
    total for the filter (counting a large school costs more than reading a page, so later pages leave it
    out). This is the API's hot path: rows go straight to JSON, without ORM objects or a model per pupil."""
    after = decode_cursor(cursor, sort) if cursor else None
    rows = await repository.page(tenant, f, sort, limit, after)
    next_cursor = encode_cursor(sort, repository.cursor_values(rows[limit - 1], sort)) if len(rows) > limit else None
    total = await repository.count(tenant, f) if cursor is None else None
    items = [{name: row[name] for name in PUPIL_OUT_FIELDS} for row in rows[:limit]]
    body = {"items": items, "next_cursor": next_cursor, "total": total}
    return orjson.dumps(body, option=orjson.OPT_UTC_Z, default=str)  # default: asyncpg UUIDs in class_ids


async def selected(tenant: Tenant, selection: PupilSelection) -> list[ColumnElement[bool]]:
    """Conditions on ``Pupil`` for the pupils a selection names, for set-based statements.

    By ids: NotFound (listing up to 100 of them) unless every id is a pupil of this school, so a typo
    changes nothing. By filter: every pupil it selects, with no paging limit (never pupils pending deletion).
    """
    if selection.pupil_ids is None:
        assert selection.filter is not None
        return repository.filter_conditions(tenant, selection.filter)
    ids = list(dict.fromkeys(selection.pupil_ids))
    missing = set(ids) - await repository.existing_ids(tenant, ids)
    if missing:
        raise NotFound(
            f"{len(missing)} of the pupil_ids are not pupils of this school",
            extra={"missing_pupil_ids": sorted(map(str, missing))[:100]},
        )
    return [repository.id_is_any(col(Pupil.id), ids)]


async def selected_ids(tenant: Tenant, selection: PupilSelection) -> Select[Any]:
    """``SELECT id`` of the pupils a selection names (see ``selected``)."""
    return tenant.select_columns(Pupil, col(Pupil.id)).where(*await selected(tenant, selection))


async def set_access(
    tenant: Tenant, conditions: Sequence[ColumnElement[bool]], has_access: bool, **audit_data: Any
) -> list[uuid.UUID]:
    """Grant or revoke access of the pupils meeting ``conditions``, in one statement, with one audit event
    per pupil changed (in one more). Returns the ids changed."""
    changed = await repository.set_access(tenant, conditions, has_access, utcnow())
    await audit.record_many(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="pupil.access_granted" if has_access else "pupil.access_revoked",
        entity_type="pupil",
        entries=[(pid, {"has_access": [not has_access, has_access], **audit_data}) for pid in changed],
    )
    return changed


async def change_access(tenant: Tenant, selection: PupilSelection, has_access: bool) -> Changed:
    """``grant-access`` / ``revoke-access``: the selected pupils that differ change, all or none."""
    return Changed(changed=len(await set_access(tenant, await selected(tenant, selection), has_access)))
