"""Opaque keyset cursors: a page's ``next_cursor`` names the sort key of its last item, and
the next page starts strictly after it.

Listings sort on keys that never change once an item exists (an agent's key, a check-in's
creation time and id, a file's storage time and id, an audit entry's id), so a page read after
concurrent inserts or deletes neither repeats an item nor skips one that was there all along:
new items appear only if they sort after the cursor. A cursor is base64url of a small JSON
object; clients pass it back unchanged and must not build one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.operator.errors import InvalidRequestError

T = TypeVar("T")
SortKey = tuple[str | int | float, ...]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """One page of a listing, and the cursor for the next (None: this was the last)."""

    items: tuple[T, ...]
    next_cursor: str | None


def encode(kind: str, key: SortKey) -> str:
    raw = json.dumps({"k": kind, "after": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(kind: str, cursor: str | None) -> SortKey | None:
    """The sort key a cursor of listing ``kind`` names (None for the first page)."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = data["after"]
        if data["k"] != kind or not isinstance(after, list):
            raise ValueError(kind)
        if not all(isinstance(v, str | int | float) for v in after):
            raise ValueError(after)
        return tuple(after)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequestError(
            "this cursor does not belong to this listing: pass back the next_cursor of the "
            "previous page unchanged",
            field="cursor",
        ) from exc


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(f"limit is 1 to {MAX_LIMIT}", field="limit")
    return limit


def page_of(
    kind: str,
    items: Sequence[T],
    key: Callable[[T], SortKey],
    cursor: str | None,
    limit: int,
) -> Listing[T]:
    """A page of ``items`` (any order) sorted by ``key``, after ``cursor``."""
    after = decode(kind, cursor)
    check_limit(limit)
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    return listing(kind, ordered, key, limit)


def listing(kind: str, ordered: Sequence[T], key: Callable[[T], SortKey], limit: int) -> Listing[T]:
    """A page from items already sorted and past the cursor: the first ``limit`` of them
    (give ``limit + 1`` if there may be more: the extra one only says so)."""
    shown = tuple(ordered[:limit])
    more = len(ordered) > limit
    return Listing(shown, encode(kind, key(shown[-1])) if more and shown else None)
