"""Tenant scoping in one place: every school-owned query starts from ``Tenant.select``.

A school API key resolves to a ``Tenant``; repositories take it and never build an unscoped query
for a school-owned table, so an endpoint cannot forget the filter. Another school's row is simply
not found (404), which never reveals that it exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound

Role = Literal["coordinator", "viewer"]
M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Tenant:
    """The school a request or job acts for, with the session it uses."""

    session: AsyncSession
    school_id: uuid.UUID
    #: Who acts: ``key:<api key id>``, ``operator`` or ``system``; recorded in the audit log.
    actor: str
    role: Role = "coordinator"

    def select(self, model: type[M], *columns: Any) -> Select[Any]:
        """``SELECT`` of the model (or of ``columns`` from it) restricted to this school."""
        school_col = model.school_id  # type: ignore[attr-defined]
        stmt = select(*columns) if columns else select(model)
        return stmt.where(school_col == self.school_id)

    async def get(self, model: type[M], object_id: uuid.UUID, what: str) -> M:
        """The row with this id in this school, or NotFound naming ``what``."""
        row = (
            await self.session.execute(
                self.select(model).where(model.id == object_id)  # type: ignore[attr-defined]
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"No {what} with id {object_id}")
        return row  # type: ignore[no-any-return]
