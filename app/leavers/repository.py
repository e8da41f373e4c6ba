"""Set-based statements of the tidy-up, scoped by ``Tenant``: each touches any number of pupils at once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, delete, exists, literal, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col

from app.models import Class, ClassMembership
from app.models.base import utcnow
from app.sync.runner import lock_key
from app.tenancy import Tenant


async def try_lock_school(tenant: Tenant) -> bool:
    """Take the school's sync lock for this transaction, if free (a running sync job holds it)."""
    stmt = text("SELECT pg_try_advisory_xact_lock(:k)")
    return bool((await tenant.session.execute(stmt, {"k": lock_key(tenant.school_id)})).scalar_one())


async def end_memberships_elsewhere(
    tenant: Tenant, class_id: uuid.UUID, pupil_ids: Select[Any]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """End the memberships of the selected pupils in every class but ``class_id``; (pupil id, class id) ended."""
    stmt = (
        delete(ClassMembership)
        .where(
            tenant.owns(ClassMembership),
            col(ClassMembership.class_id) != class_id,
            col(ClassMembership.pupil_id).in_(pupil_ids),
        )
        .returning(col(ClassMembership.pupil_id), col(ClassMembership.class_id))
        .execution_options(synchronize_session=False)
    )
    return [(p, c) for p, c in await tenant.session.execute(stmt)]


async def remove_from_class(tenant: Tenant, class_id: uuid.UUID, pupil_ids: Select[Any]) -> list[uuid.UUID]:
    """End the selected pupils' membership of ``class_id``; the pupils whose membership ended."""
    stmt = (
        delete(ClassMembership)
        .where(
            tenant.owns(ClassMembership),
            col(ClassMembership.class_id) == class_id,
            col(ClassMembership.pupil_id).in_(pupil_ids),
        )
        .returning(col(ClassMembership.pupil_id))
        .execution_options(synchronize_session=False)
    )
    return list((await tenant.session.execute(stmt)).scalars().all())


async def add_to_class(tenant: Tenant, class_id: uuid.UUID, pupil_ids: Select[Any]) -> list[uuid.UUID]:
    """Add the selected pupils to ``class_id`` by hand-made memberships; the pupils that were not members."""
    ids = pupil_ids.subquery()
    stmt = (
        pg_insert(ClassMembership)
        .from_select(
            ["class_id", "pupil_id", "school_id", "mis_managed", "created_at"],
            select(literal(class_id), ids.c[0], literal(tenant.school_id), literal(False), literal(utcnow())),
        )
        .on_conflict_do_nothing()
        .returning(col(ClassMembership.pupil_id))
    )
    return list((await tenant.session.execute(stmt)).scalars().all())


async def delete_empty_classes(tenant: Tenant, keep: uuid.UUID) -> list[tuple[uuid.UUID, str, str]]:
    """Delete the classes without any membership, except ``keep`` and the classes mapped to an MIS group and
    set up for sync; (id, name, name key) of each deleted.

    A membership of a pupil pending deletion counts: a restored pupil finds its classes again.
    """
    stmt = (
        delete(Class)
        .where(
            tenant.owns(Class),
            col(Class.id) != keep,
            ~(col(Class.set_up) & col(Class.mis_group_id).is_not(None)),
            ~exists().where(col(ClassMembership.class_id) == col(Class.id)),
        )
        .returning(col(Class.id), col(Class.name), col(Class.name_key))
        .execution_options(synchronize_session=False)
    )
    return [(i, n, k) for i, n, k in await tenant.session.execute(stmt)]
