"""Folding text for comparison, search and sorting, and LIKE patterns.

``fold`` uses the name normalisation of matching (case, accents, apostrophes, hyphens, punctuation,
spaces), so a search, a sort and a match all agree on what "the same name" is.
"""

from __future__ import annotations

from app.reconcile.names import normalise


def fold(text: str | None) -> str:
    """``text`` normalised for comparison ("Zoë O'Brien-Smith" -> "zoe obrien smith"); "" for None."""
    return normalise(text) if text else ""


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
