"""Name normalisation and a bounded edit distance for "close name" matching.

Normalisation makes the spellings a school meets for one name compare equal: case, accents
("Zoë" = "Zoe"), apostrophes of every kind ("O'Brien" = "O\u2019Brien" = "OBrien"), hyphens and dashes
("Smith-Jones" = "Smith Jones"), other punctuation and runs of spaces. :func:`compact` also drops the
spaces, so "Smith Jones", "Smith-Jones" and "SmithJones" share one key.

Everything here is pure and cheap: ASCII input (most names) skips Unicode decomposition, and results
are cached because forenames and surnames repeat across a school.
"""

from __future__ import annotations

import string
import unicodedata
from functools import lru_cache

# Dropped without a trace: O'Brien is one word, whatever the apostrophe.
_APOSTROPHES = "'\u2019\u2018\u201b`\u00b4\u02bc\u02bb\u2032\uff07"
# Word separators: hyphens, every dash, the minus sign, and ordinary punctuation.
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
_SEPARATORS = _DASHES + "".join(c for c in string.punctuation if c not in "'`-")

_TABLE = str.maketrans({**dict.fromkeys(_APOSTROPHES), **dict.fromkeys(_SEPARATORS, " ")})


@lru_cache(maxsize=1 << 16)
def normalise(text: str) -> str:
    """Lower case, accents removed, apostrophes dropped, dashes and punctuation as single spaces.

    Letters without a decomposition (``ø``, ``ł``) are kept as they are; ``ß`` becomes ``ss``.
    """
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = text.casefold().translate(_TABLE)
    if not cleaned.isascii():
        # Symbols outside ASCII punctuation (e.g. "·") separate words too; letters and digits stay.
        cleaned = "".join(c if c.isalnum() or c.isspace() else " " for c in cleaned)
    return " ".join(cleaned.split())


@lru_cache(maxsize=1 << 16)
def compact(text: str) -> str:
    """:func:`normalise` without spaces: the form used for keys and edit distances."""
    return normalise(text).replace(" ", "")


def name_key(forename: str, surname: str) -> str:
    """A full-name key: equal for two spellings of the same forename and surname."""
    return f"{compact(forename)}|{compact(surname)}"


def osa_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment) of ``a`` and ``b``, capped at ``limit + 1``.

    Counts insertions, deletions, substitutions and swaps of two adjacent letters. Only a band of
    width ``2 * limit + 1`` is computed, and the scan stops as soon as a whole row exceeds ``limit``,
    so a comparison costs O(limit * len) rather than O(len**2). Any result above ``limit`` is
    reported as ``limit + 1``.
    """
    if a == b:
        return 0
    la, lb = len(a), len(b)
    over = limit + 1
    if abs(la - lb) > limit:
        return over
    if la == 0 or lb == 0:
        return max(la, lb)
    # Cells outside the band hold `over`: their true value is at least |i - j| > limit.
    prev2: list[int] = []
    prev = [j if j <= limit else over for j in range(lb + 1)]
    for i in range(1, la + 1):
        cur = [over] * (lb + 1)
        if i <= limit:
            cur[0] = i
        row_min = cur[0]
        ca = a[i - 1]
        for j in range(max(1, i - limit), min(lb, i + limit) + 1):
            cb = b[j - 1]
            v = prev[j - 1] + (ca != cb)
            if prev[j] + 1 < v:
                v = prev[j] + 1
            if cur[j - 1] + 1 < v:
                v = cur[j - 1] + 1
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb and prev2[j - 2] + 1 < v:
                v = prev2[j - 2] + 1
            if v > over:
                v = over
            cur[j] = v
            if v < row_min:
                row_min = v
        if row_min > limit:
            return over
        prev2, prev = prev, cur
    return min(prev[lb], over)


def edit_limit(length: int) -> int:
    """Edits still counted as a spelling slip in a name part of ``length`` letters.

    Short parts tolerate less: "Jo" vs "Al" is two edits but a different name.
    """
    if length < 3:
        return 0
    if length < 6:
        return 1
    return 2
