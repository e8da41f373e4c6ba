"""UPNs for the simulator: made with the DfE check-letter rule of :mod:`app.reconcile.upn`, right or
deliberately wrong."""

from __future__ import annotations

from app.reconcile.upn import CHECK_LETTERS, check_letter
from app.reconcile.upn import is_valid_upn as is_valid

__all__ = ["check_letter", "is_valid", "make"]


def make(body: str, *, valid: bool = True) -> str:
    """A UPN for ``body`` (12 characters): with its right check letter, or (``valid=False``) a wrong one."""
    right = check_letter(body)
    if valid:
        return right + body
    # Any other letter is wrong; pick the next one so the choice stays deterministic.
    return CHECK_LETTERS[(CHECK_LETTERS.index(right) + 1) % 23] + body
