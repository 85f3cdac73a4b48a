"""Usage reports, read only from the aggregates (`usage_daily` or `usage_hourly`), never from the raw ledger rows.

Times select hourly buckets: a bucket counts when its hour is at or after `start`'s hour and before `end`.

Which table answers: `usage_daily` when the report is not grouped by hour (grouped by day, or by no time at all)
and each of `start` and `end` is either absent or a UTC midnight; `usage_hourly` otherwise. On those conditions
the day buckets between `start` and `end` hold exactly the hour buckets between them, so both tables give the
same answer and the daily one reads about 24 times fewer rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.pricing.engine import decimal_str, exact
from oneflow_ai.store.aggregates import DAILY, HOURLY, Grain, day_of, hour_of

DIMENSIONS: Mapping[str, str] = {
    "key": "key_id",
    "user": "user_id",
    "end_user": "end_user",
    "department": "department_id",
    "tenant": "tenant_id",
    "model": "requested_model",
    "served_model": "served_model",
    "provider": "provider",
}
"""Report dimension -> aggregate column (`model` is the name the client asked for)."""
TIME_GROUPS = ("hour", "day")
COUNTS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "errors")
MONEY = ("cost_usd", "credits")


@dataclass(frozen=True, slots=True)
class UsageQuery:
    filters: Mapping[str, str] = field(default_factory=dict)
    """Dimension -> the one value it must have."""
    start: datetime | None = None
    end: datetime | None = None
    group_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in (*self.filters, *self.group_by):
            if name not in DIMENSIONS and name not in TIME_GROUPS:
                raise ValueError(f"unknown dimension {name!r}; known: {', '.join((*DIMENSIONS, *TIME_GROUPS))}")
        if set(self.filters) & set(TIME_GROUPS):
            raise ValueError("filter on time with start and end")
        if "hour" in self.group_by and "day" in self.group_by:
            raise ValueError("group by hour or by day, not both")


def grain_for(query: UsageQuery) -> Grain:
    """The aggregate that answers `query`: daily when no hour is asked for and the range is whole UTC days."""
    if "hour" in query.group_by:
        return HOURLY
    if all(t is None or day_of(t) == t for t in (query.start, query.end)):
        return DAILY
    return HOURLY


def _time_key(name: str, grain: Grain, dialect: str) -> ColumnElement[Any]:
    bucket: ColumnElement[Any] = grain.column
    if name == "hour":
        return bucket
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS...' in UTC
        return func.substr(bucket, 1, 10)
    return cast(func.timezone("UTC", bucket), Date)


def _label(name: str, value: Any) -> Any:
    if name == "hour":
        return hour_of(value).strftime("%Y-%m-%dT%H:00:00Z")
    if name == "day":
        return str(value)
    return value or None


def _totals(row: Mapping[str, Any], inr_per_usd: Decimal) -> dict[str, Any]:
    out: dict[str, Any] = {c: int(row[c] or 0) for c in COUNTS}
    with exact():
        for c in MONEY:
            out[c] = Decimal(row[c] or 0)
        out["cost_inr"] = out["cost_usd"] * inr_per_usd
    return out


def _json(totals: dict[str, Any]) -> dict[str, Any]:
    return {k: decimal_str(v) if isinstance(v, Decimal) else v for k, v in totals.items()}


def _add(into: dict[str, Any], more: dict[str, Any]) -> None:
    with exact():
        for k, v in more.items():
            into[k] = into.get(k, 0) + v


async def usage(engine: AsyncEngine, query: UsageQuery, inr_per_usd: Decimal) -> dict[str, Any]:
    """`{"totals": {...}, "groups": [{<dimension values>, <the same sums>}, ...]}`; money as decimal strings."""
    dialect = engine.dialect.name
    grain = grain_for(query)
    table = grain.table
    keys: Sequence[tuple[str, ColumnElement[Any]]] = [
        (g, _time_key(g, grain, dialect) if g in TIME_GROUPS else table.c[DIMENSIONS[g]]) for g in query.group_by
    ]
    sums = [func.sum(table.c[c]).label(c) for c in (*COUNTS, *MONEY)]
    stmt = select(*(k.label(f"g_{name}") for name, k in keys), *sums)
    for name, value in query.filters.items():
        stmt = stmt.where(table.c[DIMENSIONS[name]] == value)
    if query.start is not None:  # daily: `start` is a midnight, so its hour and its day are itself
        stmt = stmt.where(grain.column >= hour_of(query.start))
    if query.end is not None:
        stmt = stmt.where(grain.column < query.end.astimezone(UTC))
    if keys:
        stmt = stmt.group_by(*(k for _, k in keys)).order_by(*(k for _, k in keys))
    async with engine.connect() as conn:
        rows = [r._mapping for r in await conn.execute(stmt)]
    totals: dict[str, Any] = {c: 0 for c in COUNTS} | {c: Decimal(0) for c in (*MONEY, "cost_inr")}
    groups = []
    for row in rows:
        if keys and row["requests"] is None:
            continue
        sums_ = _totals(dict(row), inr_per_usd)
        _add(totals, sums_)
        if keys:
            groups.append({name: _label(name, row[f"g_{name}"]) for name, _ in keys} | _json(sums_))
    return {"totals": _json(totals), "groups": groups}
