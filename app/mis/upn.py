"""Unique Pupil Number (England): the DfE check-letter rule.

A UPN has 13 characters: a check letter, then 12 characters. A permanent UPN continues with
12 digits (LA number, establishment number, year of issue, serial); a temporary UPN with 11
digits and a final letter. The check letter, per the UK Government Data Standards Catalogue
("Unique Pupil Number" v2.0, DfE) and the school census validation rule 1510:

1. multiply the characters at positions 2..13 by their position (weights 2..13); for a
   temporary UPN, the final letter counts as its value in the table below;
2. add the products and take the sum modulo 23;
3. the check letter is that value in ``ABCDEFGHJKLMNPQRTUVWXYZ`` (A=0 .. Z=22: the alphabet
   without I, O and S, which are never used as check letter or final letter).

Worked example: ``B801200005001``: 8*2 + 1*4 + 2*5 + 5*10 + 1*13 = 93; 93 mod 23 = 1 -> ``B``.

:func:`is_valid` is strict: upper case, no spaces. Connectors normalise what the MIS sends
(upper-case, spaces removed) before anyone validates it, so a lower-case UPN from the MIS is
checked as its upper-case form. Only the check letter and shape are checked (LA codes are not:
the DfE list of LA and pseudo-LA codes changes; the check letter already catches typing slips).
"""

from __future__ import annotations

import re

#: Value -> letter (index is the value). I, O and S are never used.
LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_VALUE = {letter: i for i, letter in enumerate(LETTERS)}
_SHAPE = re.compile(r"^[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]$")


def check_letter(body: str) -> str:
    """The check letter for the 12 characters after it (11 digits and a digit or letter).

    Raises ValueError when ``body`` is not 11 digits followed by a digit or an allowed letter.
    """
    if (
        len(body) != 12
        or not body.isascii()
        or not body[:11].isdigit()
        or not (body[11].isdigit() or body[11] in _VALUE)
    ):
        raise ValueError("a UPN body is 11 digits and a digit or letter")
    total = sum(int(ch) * weight for weight, ch in enumerate(body[:11], start=2))
    last = body[11]
    total += (int(last) if last.isdigit() else _VALUE[last]) * 13
    return LETTERS[total % 23]


def is_valid(upn: str | None) -> bool:
    """True when ``upn`` is a well-formed UPN (permanent or temporary) with the right check letter."""
    if upn is None or not _SHAPE.match(upn):
        return False
    return check_letter(upn[1:]) == upn[0]


def is_temporary(upn: str) -> bool:
    """True for the temporary form (ending in a letter); says nothing about validity."""
    return len(upn) == 13 and upn[-1].isalpha()
