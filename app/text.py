"""Folding text for comparison, search and sorting: case, accents, apostrophes, hyphens, spaces."""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = re.compile("['\u2019\u2018`\u00b4\u02bc]")
_SEPARATORS = re.compile("[\\s\\-\u2010\u2011\u2012\u2013\u2014_.]+")


def fold(text: str | None) -> str:
    """Lower-case, accent-free, apostrophe-free text with single spaces ("Zoë O'Brien-Smith" -> "zoe obrien smith")."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = _APOSTROPHES.sub("", stripped.casefold())
    return _SEPARATORS.sub(" ", stripped).strip()


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
