"""Keyset pages of a list: `limit` rows after an opaque cursor, and whether more follow.

A cursor is the sort key of the last row a page showed, so a page never skips or repeats a
row when rows are added meanwhile, and nothing is cut without `has_more` saying so.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from trunkdrop.errors import InvalidInput

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    # Pass as `cursor` to read the next page; None when nothing follows.
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Order:
    """One column of a list's sort key; the last must make the key unique (an id)."""

    column: InstrumentedAttribute[Any]
    descending: bool = False


def encode_cursor(key: Sequence[Any]) -> str:
    values = [_tagged(v) for v in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int | None) -> list[Any]:
    """The sort key inside `cursor`; a cursor this list never gave is refused (422)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = [_untagged(v) for v in json.loads(raw)]
    except (ValueError, TypeError, KeyError, binascii.Error):
        values = []
    if not values or (width is not None and len(values) != width):
        raise InvalidInput("cursor: not a cursor this list gave", field="cursor")
    return values


def _tagged(value: Any) -> list[Any]:
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"a cursor cannot hold {type(value).__name__}")
    return ["v", value]


def _untagged(tagged: list[Any]) -> Any:
    tag, value = tagged
    if tag == "t":
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time in a cursor")
        return parsed
    if tag == "d":
        return date.fromisoformat(value)
    if tag == "v" and isinstance(value, int | str) and not isinstance(value, bool):
        return value
    raise ValueError("unknown cursor value")


def _after(order: Sequence[Order], key: Sequence[Any]) -> ColumnElement[bool]:
    """Rows sorting after `key`: (a > x) or (a = x and b > y) or …, each column its way."""
    clauses = []
    for i, o in enumerate(order):
        equal = [order[j].column == key[j] for j in range(i)]
        beyond = o.column < key[i] if o.descending else o.column > key[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def page_of(
    session: Session,
    query: Select[Any],
    *,
    order: Sequence[Order],
    key: Callable[[T], Sequence[Any]],
    cursor: str | None,
    limit: int,
) -> Page[T]:
    """One page of `query` sorted by `order`; `key` reads a row's sort key."""
    if cursor is not None:
        query = query.where(_after(order, decode_cursor(cursor, len(order))))
    query = query.order_by(
        *(o.column.desc() if o.descending else o.column.asc() for o in order)
    ).limit(limit + 1)
    rows = list(session.scalars(query))
    return _cut(rows, key, limit)


def page_in_memory(
    items: Sequence[T], *, key: Callable[[T], Sequence[Any]], cursor: str | None, limit: int
) -> Page[T]:
    """One page of a list held whole (a handful of brands, a day's stops), sorted by `key`."""
    ordered = sorted(items, key=lambda item: tuple(key(item)))
    if cursor is not None:
        start = tuple(decode_cursor(cursor, None))
        ordered = [item for item in ordered if tuple(key(item)) > start]
    return _cut(ordered[: limit + 1], key, limit)


def _cut(rows: list[T], key: Callable[[T], Sequence[Any]], limit: int) -> Page[T]:
    items, has_more = rows[:limit], len(rows) > limit
    return Page(items, has_more, encode_cursor(key(items[-1])) if has_more else None)
