"""Unique Pupil Numbers (England, DfE): normalisation and the check-letter rule.

A UPN is 13 characters: a check letter, then 12 characters. Characters 2-12 are digits (LA number,
establishment number, year of allocation, serial). Character 13 is a digit, or a letter for a
*temporary* UPN. The check letter is computed from characters 2-13: each character's value times its
position (2 .. 13), summed, modulo 23, mapped to the 23-letter alphabet below (no I, O or S).
Digits count as their value; the letter of a temporary UPN counts as its position in that alphabet.

We do not check the LA number against the published list: that list changes over time, and a
rejected-but-real UPN would cost a match, while the check letter already catches typing slips.
(``app/mis/upn.py`` has its own copy of this rule; the two are to be merged.)
"""

from __future__ import annotations

from operator import mul

#: Check letters, by remainder: 0 = A ... 22 = Z. I, O and S are never used.
CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"

_VALUE: dict[str, int] = {c: i for i, c in enumerate(CHECK_LETTERS)} | {str(d): d for d in range(10)}
_WEIGHTS = tuple(range(2, 14))
_WEIGHTS_2_12 = bytes(range(2, 13))
_ASCII_ZERO_OFFSET = ord("0") * sum(_WEIGHTS_2_12)


def normalise_upn(raw: str | None) -> str | None:
    """``raw`` upper-cased with all whitespace removed, or None when nothing is left."""
    if raw is None:
        return None
    if len(raw) == 13 and raw.isalnum() and raw.isupper():  # the usual case, already clean
        return raw
    cleaned = "".join(raw.split()).upper()
    return cleaned or None


def check_letter(tail: str) -> str:
    """The check letter for ``tail``, the 12 characters after it (already upper case).

    Raises ValueError when ``tail`` is not 12 characters of digits or check-alphabet letters.
    """
    if len(tail) != 12 or any(c not in _VALUE for c in tail):
        raise ValueError("a UPN tail is 12 digits or check-alphabet letters")
    return CHECK_LETTERS[sum(map(mul, map(_VALUE.__getitem__, tail), _WEIGHTS)) % 23]


def is_valid_upn(raw: str | None) -> bool:
    """Whether ``raw`` (any case, spaces ignored) is a well-formed UPN with the right check letter.

    Permanent UPNs end in a digit, temporary ones in a check-alphabet letter; both are valid.
    """
    upn = normalise_upn(raw)
    return upn is not None and _well_formed(upn)


def _well_formed(upn: str) -> bool:
    # Characters 2-12 must be ASCII digits (str.isdigit alone would accept other scripts' digits).
    if len(upn) != 13 or not upn.isascii() or not upn[1:12].isdigit():
        return False
    last = _VALUE.get(upn[12])
    if last is None:
        return False
    # The ASCII codes of characters 2-12 are 48 + digit: weigh the codes and take the offset back out.
    total = sum(map(mul, upn[1:12].encode(), _WEIGHTS_2_12)) - _ASCII_ZERO_OFFSET + 13 * last
    return upn[0] == CHECK_LETTERS[total % 23]


def valid_upn(raw: str | None) -> str | None:
    """The normalised UPN when it is valid, else None (an invalid UPN is never trusted)."""
    upn = normalise_upn(raw)
    return upn if upn is not None and _well_formed(upn) else None


def is_temporary_upn(raw: str | None) -> bool:
    """Whether ``raw`` is a valid *temporary* UPN (its last character is a letter)."""
    upn = normalise_upn(raw)
    return upn is not None and _well_formed(upn) and upn[12].isalpha()
