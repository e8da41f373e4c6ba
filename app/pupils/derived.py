"""Columns derived from a pupil's fields, computed in one place for hand edits and syncs alike."""

from __future__ import annotations

from typing import Any

from app import year_groups
from app.text import fold

UNKNOWN_YEAR_RANK = 99


def derived_columns(
    *,
    forename: str,
    surname: str,
    legal_forename: str | None,
    legal_surname: str | None,
    upn: str | None,
    year_group: str | None,
) -> dict[str, Any]:
    """``sort_key``, ``search_text`` and ``year_rank`` for these field values."""
    rank = year_groups.rank(year_group)
    return {
        "sort_key": f"{fold(surname)} {fold(forename)}",
        "search_text": " ".join(
            filter(
                None, (fold(forename), fold(surname), fold(legal_forename), fold(legal_surname), (upn or "").lower())
            )
        ),
        "year_rank": UNKNOWN_YEAR_RANK if rank is None else rank,
    }
