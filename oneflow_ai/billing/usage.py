"""Usage reports, read only from the aggregates (`usage_daily` or `usage_hourly`), never from the raw ledger rows.

Times select hourly buckets: a bucket counts when its hour is at or after `start`'s hour and before `end`.

Which table answers: a report grouped by hour reads `usage_hourly`. Any other report splits its range at UTC
midnights (`spans`): the whole days in the middle come from `usage_daily`, the partial days at either edge
from `usage_hourly`, and the parts are summed per group. A whole day's bucket holds exactly its hours'
buckets, so the answer is the one the hourly table alone would give, from far fewer rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, RowMapping, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.pricing.engine import decimal_str, exact
from oneflow_ai.store.aggregates import DAILY, HOURLY, Grain, day_of, hour_of, sqlite_money
from oneflow_ai.store.tables import LATENCY_COLUMNS

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
COUNTS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "errors",
    "cache_hits",
    "guardrail_blocked",
    "guardrail_redacted",
)
MONEY = ("cost_usd", "credits", "saved_usd")
LATENCY = ("latency_ms_sum", *LATENCY_COLUMNS)
"""The latency sum and histogram, summed when a query asks for them (`UsageQuery.latency`)."""


@dataclass(frozen=True, slots=True)
class UsageQuery:
    filters: Mapping[str, str] = field(default_factory=dict)
    """Dimension -> the one value it must have."""
    start: datetime | None = None
    end: datetime | None = None
    group_by: tuple[str, ...] = ()
    latency: bool = False
    """Also sum `LATENCY` (the console's mean and p95 latency; `/api/v1/usage` leaves them out)."""

    def __post_init__(self) -> None:
        for name in (*self.filters, *self.group_by):
            if name not in DIMENSIONS and name not in TIME_GROUPS:
                raise ValueError(f"unknown dimension {name!r}; known: {', '.join((*DIMENSIONS, *TIME_GROUPS))}")
        if set(self.filters) & set(TIME_GROUPS):
            raise ValueError("filter on time with start and end")
        if "hour" in self.group_by and "day" in self.group_by:
            raise ValueError("group by hour or by day, not both")


Span = tuple[Grain, datetime | None, datetime | None]


def grain_for(query: UsageQuery) -> Grain:
    """The aggregate that answers `query` alone: daily when no hour is asked for and the range is whole UTC days."""
    if "hour" in query.group_by:
        return HOURLY
    if all(t is None or day_of(t) == t for t in (query.start, query.end)):
        return DAILY
    return HOURLY


def spans(query: UsageQuery) -> list[Span]:
    """The (table, start, end) parts that together cover the query's range, whole days read from the daily table."""
    if grain_for(query) is DAILY:
        return [(DAILY, query.start, query.end)]
    if "hour" in query.group_by:
        return [(HOURLY, query.start, query.end)]
    start = hour_of(query.start) if query.start is not None else None
    end = query.end.astimezone(UTC) if query.end is not None else None
    first_midnight = None if start is None else (start if day_of(start) == start else day_of(start) + timedelta(days=1))
    last_midnight = None if end is None else day_of(end)
    if first_midnight is not None and last_midnight is not None and first_midnight >= last_midnight:
        return [(HOURLY, start, end)]
    parts: list[Span] = []
    if start is not None and first_midnight is not None and start < first_midnight:
        parts.append((HOURLY, start, first_midnight))
    parts.append((DAILY, first_midnight, last_midnight))
    if end is not None and last_midnight is not None and last_midnight < end:
        parts.append((HOURLY, last_midnight, end))
    return parts


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


def _totals(row: RowMapping, inr_per_usd: Decimal, dialect: str) -> dict[str, Any]:
    """One result row's sums (inside `exact()`)."""
    out: dict[str, Any] = {c: int(row[c] or 0) for c in COUNTS}
    for c in MONEY:  # SQLite's money is a float: read as the decimal it stands for (`aggregates.py`)
        out[c] = sqlite_money(row[c]) if dialect == "sqlite" else Decimal(row[c] or 0)
    out["cost_inr"] = out["cost_usd"] * inr_per_usd
    if "latency_ms_sum" in row:
        out["latency_ms_sum"] = float(row["latency_ms_sum"] or 0)
        out.update((c, int(row[c] or 0)) for c in LATENCY_COLUMNS)
    return out


def zero(query: UsageQuery) -> dict[str, Any]:
    """The sums of no rows, with the keys a group of `query` has."""
    out: dict[str, Any] = {c: 0 for c in COUNTS} | {c: Decimal(0) for c in (*MONEY, "cost_inr")}
    if query.latency:
        out |= {"latency_ms_sum": 0.0} | {c: 0 for c in LATENCY_COLUMNS}
    return out


def as_json(totals: Mapping[str, Any]) -> dict[str, Any]:
    """Sums for JSON: money as decimal strings."""
    return {k: decimal_str(v) if isinstance(v, Decimal) else v for k, v in totals.items()}


def add_sums(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    """Add one group's sums into another's (money exactly)."""
    with exact():
        plus(into, more)


def plus(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    """`add_sums` for a loop that holds `exact()` already (entering it per group costs more than the adding)."""
    for k, v in more.items():
        into[k] = into.get(k, 0) + v


def _statement(query: UsageQuery, span: Span, dialect: str) -> Any:
    grain, start, end = span
    table = grain.table
    keys: Sequence[tuple[str, ColumnElement[Any]]] = [
        (g, _time_key(g, grain, dialect) if g in TIME_GROUPS else table.c[DIMENSIONS[g]]) for g in query.group_by
    ]
    sums = [func.sum(table.c[c]).label(c) for c in (*COUNTS, *MONEY, *(LATENCY if query.latency else ()))]
    stmt = select(*(k.label(f"g_{name}") for name, k in keys), *sums)
    for name, value in query.filters.items():
        stmt = stmt.where(table.c[DIMENSIONS[name]] == value)
    if start is not None:  # daily parts start at a midnight, so its hour and its day are itself
        stmt = stmt.where(grain.column >= hour_of(start))
    if end is not None:
        stmt = stmt.where(grain.column < end.astimezone(UTC))
    if keys:
        stmt = stmt.group_by(*(k for _, k in keys))
    return stmt


async def grouped(
    engine: AsyncEngine, query: UsageQuery, inr_per_usd: Decimal
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The sums of each group (keyed by its values of `query.group_by`, in that order; money as `Decimal`); a
    query without `group_by` has one group, `()`, unless no bucket matched."""
    dialect = engine.dialect.name
    by_group: dict[tuple[Any, ...], dict[str, Any]] = {}
    async with engine.connect() as conn:
        for span in spans(query):
            rows = (await conn.execute(_statement(query, span, dialect))).all()
            with exact():
                for r in rows:
                    row = r._mapping
                    if row["requests"] is None:  # no bucket in this span
                        continue
                    key = tuple(_label(name, row[f"g_{name}"]) for name in query.group_by)
                    sums = _totals(row, inr_per_usd, dialect)
                    found = by_group.get(key)
                    if found is None:
                        by_group[key] = sums
                    else:
                        plus(found, sums)
    return by_group


async def usage(engine: AsyncEngine, query: UsageQuery, inr_per_usd: Decimal) -> dict[str, Any]:
    """`{"totals": {...}, "groups": [{<dimension values>, <the same sums>}, ...]}`; money as decimal strings."""
    by_group = await grouped(engine, query, inr_per_usd)
    totals = zero(query)
    groups = []
    for key in sorted(by_group, key=lambda k: tuple((v is None, str(v)) for v in k)):
        add_sums(totals, by_group[key])
        if query.group_by:
            groups.append(dict(zip(query.group_by, key, strict=True)) | as_json(by_group[key]))
    return {"totals": as_json(totals), "groups": groups}
