"""Tenant scoping in one place: every school-owned query starts from ``Tenant.select``.

A school API key resolves to a ``Tenant``; repositories take it and never build an unscoped query
for a school-owned table, so an endpoint cannot forget the filter. Another school's row is simply
not found (404), which never reveals that it exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import ColumnElement, Select, select
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

    def owns(self, model: type[Any]) -> ColumnElement[bool]:
        """The condition that restricts ``model``'s rows to this school."""
        return cast(ColumnElement[bool], model.school_id == self.school_id)

    def select(self, model: type[M]) -> Select[M]:
        """``SELECT`` of the model's rows of this school."""
        return select(model).where(self.owns(model))

    def select_columns(self, model: type[Any], *columns: Any) -> Select[Any]:
        """``SELECT`` of ``columns`` from the model's rows of this school."""
        return select(*columns).where(self.owns(model))

    async def get(self, model: type[M], object_id: uuid.UUID, what: str) -> M:
        """The row with this id in this school, or NotFound naming ``what``."""
        stmt = self.select(model).where(cast(Any, model).id == object_id)
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"No {what} with id {object_id}")
        return row
