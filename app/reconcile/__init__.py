"""Pure matching and planning of a pupil sync, and its safety guard. No I/O anywhere in this package.

Entry point: :func:`build_plan`. See :mod:`app.reconcile.plan` for the rules and their order,
:mod:`app.reconcile.matching` for scores and reasons, :mod:`app.reconcile.guard` for the guard.
"""

from app.reconcile.guard import DEFAULT_DESYNC_THRESHOLD, assess
from app.reconcile.plan import build_plan, compute_changes, count_items, target_class
from app.reconcile.types import (
    CHANGE_FIELDS,
    COUNT_KEYS,
    TAGS,
    Candidate,
    ChangeValue,
    Decisions,
    Guard,
    GuardKind,
    Plan,
    PlanItem,
    Reports,
    RosterPupil,
    SyncStatus,
    Tag,
)
from app.reconcile.upn import is_temporary_upn, is_valid_upn, normalise_upn, valid_upn

__all__ = [
    "CHANGE_FIELDS",
    "COUNT_KEYS",
    "DEFAULT_DESYNC_THRESHOLD",
    "TAGS",
    "Candidate",
    "ChangeValue",
    "Decisions",
    "Guard",
    "GuardKind",
    "Plan",
    "PlanItem",
    "Reports",
    "RosterPupil",
    "SyncStatus",
    "Tag",
    "assess",
    "build_plan",
    "compute_changes",
    "count_items",
    "is_temporary_upn",
    "is_valid_upn",
    "normalise_upn",
    "target_class",
    "valid_upn",
]
