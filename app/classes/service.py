"""Class decisions: unique names, delete only when empty, membership by ids or by filter."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from app import audit
from app.classes import repository
from app.classes.schemas import Added, ClassCreate, ClassOut, ClassPatch
from app.errors import Conflict, NotFound
from app.models import Class
from app.models.base import utcnow
from app.pupils import service as pupils_service
from app.pupils.schemas import PupilSelection
from app.tenancy import Tenant
from app.text import fold


def name_key(name: str) -> str:
    """Two class names that fold to the same key are the same name ("7a" and "7A ")."""
    return fold(name)


def to_out(cls: Class, pupil_count: int) -> ClassOut:
    return ClassOut.model_validate({**cls.model_dump(), "pupil_count": pupil_count})


async def show(tenant: Tenant, cls: Class) -> ClassOut:
    return to_out(cls, (await repository.pupil_counts(tenant, [cls.id])).get(cls.id, 0))


async def get(tenant: Tenant, class_id: uuid.UUID) -> Class:
    return await tenant.get(Class, class_id, "class")


async def list_classes(tenant: Tenant) -> list[ClassOut]:
    classes = await repository.list_all(tenant)
    counts = await repository.pupil_counts(tenant, [c.id for c in classes])
    return [to_out(c, counts.get(c.id, 0)) for c in classes]


async def _ensure_free_name(tenant: Tenant, name: str, except_id: uuid.UUID | None = None) -> None:
    existing = await repository.find_by_name_key(tenant, name_key(name))
    if existing is not None and existing.id != except_id:
        raise Conflict(f"A class named {existing.name!r} already exists", extra={"class_id": str(existing.id)})


async def create_class(tenant: Tenant, name: str, *, actor_action: str = "class.created") -> Class:
    """Create a class; Conflict when the school already has one of that (folded) name."""
    await _ensure_free_name(tenant, name)
    cls = Class(school_id=tenant.school_id, name=name, name_key=name_key(name))
    tenant.session.add(cls)
    try:
        async with tenant.session.begin_nested():
            await tenant.session.flush()
    except IntegrityError as exc:  # a concurrent request took the name
        raise Conflict(f"A class named {name!r} already exists") from exc
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action=actor_action,
        entity_type="class",
        entity_id=cls.id,
        data={"name": name},
    )
    return cls


async def create(tenant: Tenant, body: ClassCreate) -> ClassOut:
    return to_out(await create_class(tenant, body.name), 0)


async def patch(tenant: Tenant, class_id: uuid.UUID, body: ClassPatch) -> ClassOut:
    cls = await get(tenant, class_id)
    if body.name is not None and body.name != cls.name:
        await _ensure_free_name(tenant, body.name, except_id=cls.id)
        old = cls.name
        cls.name, cls.name_key, cls.updated_at = body.name, name_key(body.name), utcnow()
        await tenant.session.flush()
        await audit.record(
            tenant.session,
            school_id=tenant.school_id,
            actor=tenant.actor,
            action="class.renamed",
            entity_type="class",
            entity_id=cls.id,
            data={"name": [old, body.name]},
        )
    return await show(tenant, cls)


async def delete(tenant: Tenant, class_id: uuid.UUID) -> None:
    """Delete an empty class; Conflict with the pupil count otherwise."""
    cls = await get(tenant, class_id)
    count = (await repository.pupil_counts(tenant, [cls.id])).get(cls.id, 0)
    if count:
        raise Conflict(f"The class still has {count} pupils; move or remove them first", extra={"pupil_count": count})
    await tenant.session.delete(cls)
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="class.deleted",
        entity_type="class",
        entity_id=cls.id,
        data={"name": cls.name},
    )


async def add_pupils(tenant: Tenant, class_id: uuid.UUID, body: PupilSelection) -> Added:
    """Add pupils by id, or every pupil a filter selects ("add all of the above": no paging limit)."""
    cls = await get(tenant, class_id)
    added = await repository.add_members(tenant, cls.id, await pupils_service.selected_ids(tenant, body))
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="class.pupils_added",
        entity_type="class",
        entity_id=cls.id,
        data={"added": added},
    )
    return Added(added=added)


async def remove_pupil(tenant: Tenant, class_id: uuid.UUID, pupil_id: uuid.UUID) -> None:
    cls = await get(tenant, class_id)
    if not await repository.remove_member(tenant, cls.id, pupil_id):
        raise NotFound(f"Pupil {pupil_id} is not in this class")
    await audit.record(
        tenant.session,
        school_id=tenant.school_id,
        actor=tenant.actor,
        action="class.pupil_removed",
        entity_type="class",
        entity_id=cls.id,
        data={"pupil_id": str(pupil_id)},
    )
