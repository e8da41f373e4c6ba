"""Leavers endpoints: wiring only."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth import Coordinator
from app.errors import COMMON_PROBLEMS, problems
from app.leavers import service
from app.leavers.schemas import TidyRequest, TidyResult

router = APIRouter(prefix="/v1/leavers", tags=["leavers"], responses=COMMON_PROBLEMS)


@router.post("/tidy", response_model=TidyResult, responses=problems(409))
async def tidy_leavers(tenant: Coordinator, body: TidyRequest | None = None) -> TidyResult:
    """Tidy up after a rollover in one call: the seed's "Leavers/Desynced" clean-up, exact and repeatable.

    1. Revoke access of every desynced pupil (``revoked``).
    2. Grant access to every synced pupil without it (``granted``).
    3. Reuse the class named ``class_name`` (case and spaces ignored) or create it (``leavers_class``).
    4. Move every pupil without access into it (``moved``): their other class memberships end, and each
       moved pupil's audit event (``pupil.moved_to_leavers``) lists the classes it left. Pupils with access
       leave the leavers class (``returned``). It then holds exactly the pupils without access.
    5. With ``delete_empty_classes`` (default true), delete every class left without members
       (``deleted_classes``), but never the leavers class and never a class mapped to an MIS group and set up
       for sync. A class whose only members are pending deletion is kept, so a restored pupil finds it.

    Afterwards every set-up class's ``pupil_count`` matches its MIS group (plus pupils with access added to it
    by hand). Manual pupils keep their access, and no pupil or test result is deleted. All or nothing, in one
    transaction, each change audited.

    ``dry_run`` is **true by default**: the answer is exactly what a real run would do at that moment and
    nothing changes (``leavers_class.id`` is null when the class would be created). Running the real tidy-up
    again right after changes nothing and answers zeros. 409 when ``class_name`` names a class set up for sync,
    or when a sync job of the school is still running after 10 seconds.
    """
    return await service.tidy(tenant, body or TidyRequest())
