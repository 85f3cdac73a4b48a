"""Opaque cursors for keyset pagination (`?limit=&cursor=` -> `{"data": [...], "next_cursor": ...}`).

A cursor is the sort key of the last row a page returned (say its `created_at` and `id`), as base64url JSON. The
next page is the rows strictly after it in the listing's order (`after`), so a row written or deleted meanwhile
never shifts a page: every row is seen once, and none is skipped, however long the walk. A cursor is not a
secret and not a grant: it only positions a query that is already confined to the caller's tenant, so one
edited by hand can show nothing the caller could not list anyway. One that does not decode answers 400.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from oneflow_ai.errors import InvalidRequest

Kind = Literal["time", "str", "int"]
MAX_CURSOR = 512


def encode(values: Sequence[datetime | str | int]) -> str:
    """The cursor of a row whose sort key is `values` (times in UTC, to the microsecond)."""
    plain = [v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(orjson.dumps(plain)).decode().rstrip("=")


def decode(cursor: str, kinds: Sequence[Kind]) -> tuple[Any, ...]:
    """The sort key a cursor holds, checked against the listing's `kinds`; 400 `invalid_cursor` otherwise."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError
        return tuple(_value(v, k) for v, k in zip(raw, kinds, strict=True))
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidRequest(
            "'cursor' is not one this listing gave out; pass `next_cursor` back unchanged.",
            param="cursor",
            code="invalid_cursor",
        ) from None


def _value(v: Any, kind: Kind) -> Any:
    if kind == "time" and isinstance(v, str):
        t = datetime.fromisoformat(v)
        if t.tzinfo is None:
            raise ValueError
        return t.astimezone(UTC)
    if kind == "str" and isinstance(v, str) and len(v) <= 256:
        return v
    if kind == "int" and isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63:
        return v
    raise ValueError


def after(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], *, descending: bool = False
) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order by `columns` (all ascending, or all descending).

    Written as `c1 <= v1 AND (c1 < v1 OR (c2, ...) after (v2, ...))` rather than a row comparison, so an index
    on the leading column (`ix_usage_records_tenant_created`) bounds the scan on both databases."""
    first, rest = columns[0], columns[1:]
    v = values[0]
    if not rest:
        last: ColumnElement[bool] = first < v if descending else first > v
        return last
    tail = after(rest, values[1:], descending=descending)
    if descending:
        return and_(first <= v, or_(first < v, tail))
    return and_(first >= v, or_(first > v, tail))
