"""Paging of every list the API answers: ``?limit=`` (default 100, at most 1000) and
``?cursor=``, answered as ``{"items": [...], "next_cursor": null | "..."}``.

A cursor is opaque to clients: the sort key of the last item of the page before,
base64url-encoded JSON. Paging by key rather than by position means an item added or
removed between two pages neither repeats nor hides another one.

Lists that are small per org (users, groups, shares, policies...) are sorted and cut
here with ``paged``. The vault's resource list, which can be large, is ordered and
started after ``Page.after`` in SQL, and ``cut`` finishes it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.core.errors import ValidationFailed

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Key = tuple[Any, ...]
Item = dict[str, Any]  # one answer item, as the API shows it


@dataclass(frozen=True)
class Page:
    """Which page a client asked for."""

    limit: int = DEFAULT_LIMIT
    after: Key | None = None  # the sort key of the last item already seen

    def after_as(self, *kinds: type) -> Key | None:
        """``after`` checked against the shape of this list's key (for SQL parameters)."""
        if self.after is None:
            return None
        if len(self.after) != len(kinds) or not all(
            type(value) is kind for value, kind in zip(self.after, kinds, strict=True)
        ):
            raise _foreign_cursor()
        return self.after


def paged_list(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Mark a list route: the handler is called with ``page=``, the page asked for
    (``?limit=`` and ``?cursor=``, checked first), and OpenAPI documents both parameters."""

    @functools.wraps(handler)
    async def with_page(request: Any) -> Any:
        return await handler(request, page=page_from(request.query))

    with_page.paged = True  # type: ignore[attr-defined]
    return with_page


def page_from(query: Mapping[str, str]) -> Page:
    """The page asked for in ``?limit=&cursor=`` (validation errors name the field)."""
    raw = query.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise ValidationFailed([{"field": "limit", "message": "must be an integer"}]) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            [{"field": "limit", "message": f"must be between 1 and {MAX_LIMIT}"}]
        )
    cursor = query.get("cursor")
    return Page(limit, None if cursor is None else _decode(cursor))


def encode(key: Key) -> str:
    """The cursor for the item whose sort key is ``key``."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(cursor: str) -> Key:
    if len(cursor) > 2000:
        raise _foreign_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        key = None
    if not isinstance(key, list) or not key:
        raise _foreign_cursor()
    return tuple(key)


def _foreign_cursor() -> ValidationFailed:
    return ValidationFailed([{"field": "cursor", "message": "is not a cursor this list gave"}])


def paged(items: Sequence[Item], page: Page, key: Callable[[Item], Key]) -> dict[str, Any]:
    """One page of ``items`` (the whole list) in ``key`` order, after the cursor."""
    ordered = sorted(items, key=key)
    if page.after is not None:
        try:
            ordered = [item for item in ordered if key(item) > page.after]
        except TypeError:  # a cursor from another list: its key does not compare
            raise _foreign_cursor() from None
    return cut(ordered, page, key)


def cut(rows: Sequence[Item], page: Page, key: Callable[[Item], Key]) -> dict[str, Any]:
    """The page from ``rows`` already ordered and started after the cursor (the database
    did it, fetching ``limit + 1`` rows so that one more tells there is a next page)."""
    chunk = list(rows[: page.limit])
    more = len(rows) > page.limit
    return {"items": chunk, "next_cursor": encode(key(chunk[-1])) if more else None}


def by_name(field: str) -> Callable[[Item], Key]:
    """Order by a name, case-insensitively (names are unique in their list)."""
    return lambda item: (item[field].lower(), item[field])


def oldest_first(item: Item) -> Key:
    """Order by ``created_at`` (ISO 8601, same zone throughout), then id."""
    return (item["created_at"], item["id"])


def newest_first(item: Item) -> Key:
    """Order by ``created_at`` descending, then id."""
    return (-datetime.datetime.fromisoformat(item["created_at"]).timestamp(), item["id"])
