"""Cursor pagination of the admin API's listings ordered by (created_at, id): keys and users.

`?limit=&cursor=` answers `{"data": [...], "has_more": ..., "next_cursor": ...}`; the cursor (`store.cursor`)
holds the last row's time and id, so the next page starts strictly after it. `?offset=` still works beside it
for older clients.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Protocol, TypeVar

from fastapi import Query

from oneflow_ai.identity.schemas import Page
from oneflow_ai.store import cursor

Cursor = Annotated[str | None, Query(max_length=512, description="the previous page's `next_cursor`")]
BY_TIME: tuple[cursor.Kind, ...] = ("time", "str")


class Timed(Protocol):
    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=Timed)


def by_time(after: str | None) -> tuple[datetime, str] | None:
    """The (created_at, id) a cursor of such a listing holds; 400 `invalid_cursor` if it is not one."""
    if after is None:
        return None
    created_at, ident = cursor.decode(after, BY_TIME)
    return created_at, ident


def time_page(found: list[T], limit: int) -> Page[T]:
    """A page of `found` (fetched with one row more than `limit`), with the cursor of its last row."""
    data = found[:limit]
    more = len(found) > limit
    next_cursor = cursor.encode([data[-1].created_at, data[-1].id]) if more else None
    return Page(data=data, has_more=more, next_cursor=next_cursor)
