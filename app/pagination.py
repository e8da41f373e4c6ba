"""Keyset pagination (API.md, Lists): ``?limit=`` 1..1000 and an opaque ``?cursor=``.

A cursor holds the sort name and the last row's sort values, so pages stay stable while rows are
added: no row is skipped or repeated.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from app.errors import BadRequest

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (1..1000).")]
Cursor = Annotated[str | None, Query(max_length=2000, description="The `next_cursor` of the previous page.")]


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = None
    total: int | None = None


def encode_cursor(sort: str, values: list[Any]) -> str:
    raw = json.dumps([sort, values], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    """The sort values of a cursor made for ``sort``; BadRequest for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, values = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise BadRequest("The cursor is not one this service made") from exc
    if cursor_sort != sort or not isinstance(values, list):
        raise BadRequest("The cursor belongs to a different sort order; start again without a cursor")
    return values


def page_of(items: list[T], kind: str, limit: int, cursor: str | None) -> Page[T]:
    """A page of a short list read whole (classes, registration groups, webhooks: hundreds at most).

    The cursor holds the position in the list's order, so ``limit`` and ``cursor`` work like everywhere
    else; a class added while paging may shift the later pages by one.
    """
    start = 0
    if cursor:
        (position,) = decode_cursor(cursor, kind)
        if not isinstance(position, int) or position < 0:
            raise BadRequest("The cursor is not one this service made")
        start = position
    end = start + limit
    next_cursor = encode_cursor(kind, [end]) if end < len(items) else None
    return Page[T](items=items[start:end], next_cursor=next_cursor, total=len(items))
