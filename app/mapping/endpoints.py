"""Registration group and class mapping endpoints: wiring only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import Coordinator, Reader
from app.errors import COMMON_PROBLEMS, problems
from app.mapping import service
from app.mapping.schemas import Mappings, MappingsUpdate, RegistrationGroupList
from app.pagination import Cursor, Limit, page_of

router = APIRouter(tags=["class mapping"], responses=COMMON_PROBLEMS)


@router.get("/v1/mis/registration-groups", response_model=RegistrationGroupList)
async def list_registration_groups(
    tenant: Reader,
    include_stale: Annotated[bool, Query(description="Also list groups that vanished from the MIS.")] = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> RegistrationGroupList:
    """The MIS registration groups from the last ``registration_groups`` job, with their mapping.

    Live groups, by year group (youngest first) then name. With ``include_stale=true``, groups that
    vanished from the MIS at a fetch follow with ``stale: true`` (they are kept, never deleted, so last
    year's mapping stays readable). ``class_id`` and ``set_up`` give the group's current mapping.

    A live group without a class gets a ``suggested_class_id``: the class of the same normalised name
    ("7a" == "7A "), otherwise its lineage, the class that held most of its pupils at the last fetch
    (so that after a rollover "8A" is suggested onto the class that was "7A" when names do not match).
    Classes mapped to another live group are never suggested, and each class is suggested once at most,
    so every suggestion can be accepted in one ``PUT /v1/class-mappings``. Empty before the first fetch."""
    items = [g for g in await service.list_registration_groups(tenant) if include_stale or not g.stale]
    page = page_of(items, f"groups:{include_stale}", limit, cursor)
    return RegistrationGroupList(items=page.items, next_cursor=page.next_cursor, total=page.total)


@router.get("/v1/class-mappings", response_model=Mappings)
async def list_class_mappings(tenant: Reader) -> Mappings:
    """Every class mapped to an MIS registration group, with the group's name and year group.

    ``stale: true`` marks a class whose group vanished from the MIS; a live group can take it over."""
    return await service.list_mappings(tenant)


@router.put("/v1/class-mappings", response_model=Mappings, responses=problems(409))
async def update_class_mappings(tenant: Coordinator, body: MappingsUpdate) -> Mappings:
    """Change the mappings of the listed groups, all or nothing; groups not listed keep theirs.

    - ``{"mis_group_id", "class_id": <id>, "set_up": bool}`` maps the group to that class of the school.
    - ``{"mis_group_id", "class_id": null, "set_up": true}`` maps it to the class named after the group
      (names compared case-, accent- and space-insensitively), creating the class when there is none.
    - ``{"mis_group_id", "class_id": null, "set_up": false}`` unmaps the group.

    A group maps to one class: mapping it elsewhere frees its previous class. A class maps to one live
    group: a class whose group went stale (vanished at a rollover) is taken over by the group mapped to
    it. Mappings are checked against the state after the whole request, so groups can swap classes.
    A stale group can keep its class or be unmapped, but not take another.

    Refused, changing nothing: a group listed twice or two mappings claiming the same class (422), a
    ``mis_group_id`` not in the last fetch or a class id not of this school (404, naming them in
    ``missing_mis_group_ids`` / ``missing_class_ids``), a class (chosen, or named after the group)
    that is mapped to another live group not remapped in the request, or a new class for a stale group
    (409, with ``conflicts``). Each changed class is audited. Returns every mapping, as
    ``GET /v1/class-mappings``."""
    return await service.update_mappings(tenant, body)
