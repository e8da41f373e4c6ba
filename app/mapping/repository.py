"""Registration group and mapping queries, scoped by ``Tenant``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlmodel import col

from app.models import Class, MisRegistrationGroup
from app.tenancy import Tenant

#: First key of the two-key advisory lock that serialises mapping changes of a school. The two-key
#: form lives in a different key space from the one-key school lock of sync jobs, so a long fetch
#: never blocks a mapping change.
MAPPING_LOCK_NAMESPACE = 0x6D6170  # "map"


async def lock_mappings(tenant: Tenant) -> None:
    """Wait for, then hold until commit, the school's mapping lock: concurrent changes see each other."""
    key = int.from_bytes(tenant.school_id.bytes[:4], "big", signed=True)
    await tenant.session.execute(select(func.pg_advisory_xact_lock(MAPPING_LOCK_NAMESPACE, key)))


async def list_groups(tenant: Tenant) -> Sequence[MisRegistrationGroup]:
    stmt = tenant.select(MisRegistrationGroup).order_by(col(MisRegistrationGroup.mis_group_id))
    return (await tenant.session.execute(stmt)).scalars().all()


async def list_classes(tenant: Tenant) -> Sequence[Class]:
    """Every class of the school (a few hundred at most)."""
    stmt = tenant.select(Class).order_by(col(Class.name_key), col(Class.id))
    return (await tenant.session.execute(stmt)).scalars().all()


async def mapped_classes(tenant: Tenant) -> Sequence[Class]:
    stmt = tenant.select(Class).where(col(Class.mis_group_id).is_not(None)).order_by(col(Class.id))
    return (await tenant.session.execute(stmt)).scalars().all()
