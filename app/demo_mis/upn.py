"""UPN check letters for the simulator (the DfE rule, kept local so the simulator has no app deps).

Rule (UK Government Data Standards Catalogue, "Unique Pupil Number" v2.0; school census
validation 1510; the same as python-stdnum's ``stdnum.gb.upn``): multiply the characters at
positions 2..13 by their position (weights 2..13; digits count as their value, a final letter
of a temporary UPN as its index below), sum, take modulo 23, and read the letter at that index
of ``ABCDEFGHJKLMNPQRTUVWXYZ`` (no I, O or S). Example: ``B801200005001`` is valid.
"""

from __future__ import annotations

LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(LETTERS)}


def check_letter(body: str) -> str:
    """The check letter for the 12 characters that follow it."""
    if len(body) != 12:
        raise ValueError("a UPN body has 12 characters")
    total = 0
    for weight, ch in enumerate(body, start=2):
        total += weight * (int(ch) if ch.isdigit() else _VALUE[ch])
    return LETTERS[total % 23]


def make(body: str, *, valid: bool = True) -> str:
    """A UPN for ``body``: with its right check letter, or (``valid=False``) a wrong one."""
    right = check_letter(body)
    if valid:
        return right + body
    # Any other letter is wrong; pick the next one so the choice stays deterministic.
    return LETTERS[(_VALUE[right] + 1) % 23] + body


def is_valid(upn: str | None) -> bool:
    """True when ``upn`` has 13 characters and the right check letter."""
    if upn is None or len(upn) != 13 or upn[0] not in _VALUE or not upn[1:12].isdigit():
        return False
    if not (upn[12].isdigit() or upn[12] in _VALUE):
        return False
    return check_letter(upn[1:]) == upn[0]
