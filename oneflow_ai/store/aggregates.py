"""Hourly usage aggregates, kept in the same transaction as the ledger rows they sum.

`rollup` groups records by (hour, dimensions) and sums them (pure). `Aggregates.add` upserts those sums with
`ON CONFLICT DO UPDATE SET x = x + excluded.x`, so every replica adds into the same bucket row. The ledger
passes only the records its insert actually wrote (`RETURNING request_id`), so a retried batch never counts twice.
Buckets are written in key order: two replicas upserting the same buckets lock them in the same order.

On SQLite, NUMERIC is stored as a 64-bit float (15 significant digits): a bucket's money is exact to 1e-12
USD up to about $1,000 and to the cent far beyond. PostgreSQL's NUMERIC is exact at any size.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from oneflow_ai.pricing.engine import exact
from oneflow_ai.store.tables import AGGREGATE_DIMENSIONS, usage_hourly

if TYPE_CHECKING:
    from oneflow_ai.store.ledger import UsageRecord

SUMS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "credits", "errors")
"""The summed columns of a bucket."""


def hour_of(ts: datetime) -> datetime:
    """The UTC hour `ts` falls in (a naive `ts` is taken as UTC)."""
    ts = ts.astimezone(UTC) if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    return ts.replace(minute=0, second=0, microsecond=0)


def rollup(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    """One row per (hour, dimensions) with the records' sums, in bucket-key order; a missing dimension is ''."""
    buckets: dict[tuple[Any, ...], dict[str, Any]] = {}
    with exact():
        for r in records:
            dims = {d: getattr(r, d) or "" for d in AGGREGATE_DIMENSIONS}
            hour = hour_of(r.created_at)
            key = (hour, *dims.values())
            b = buckets.get(key)
            if b is None:
                b = buckets[key] = {
                    "hour": hour,
                    **dims,
                    "requests": 0,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cached_tokens": 0,
                    "cost_usd": Decimal(0),
                    "credits": Decimal(0),
                    "errors": 0,
                }
            b["requests"] += 1
            b["input_tokens"] += r.input_tokens
            b["output_tokens"] += r.output_tokens
            b["cached_tokens"] += r.cached_tokens
            b["cost_usd"] += r.cost_usd
            b["credits"] += r.credits
            b["errors"] += r.status != "ok"
    return [buckets[k] for k in sorted(buckets)]


class Aggregates:
    """Adds records into `usage_hourly`; the statement is built once per dialect."""

    def __init__(self, dialect_name: str) -> None:
        dialect = sqlite if dialect_name == "sqlite" else postgresql
        insert = dialect.insert(usage_hourly)
        self._upsert = insert.on_conflict_do_update(
            index_elements=["hour", *AGGREGATE_DIMENSIONS],
            set_={c: usage_hourly.c[c] + insert.excluded[c] for c in SUMS},
        )

    async def add(self, conn: AsyncConnection, records: Iterable[UsageRecord]) -> int:
        """Upsert the records' sums on `conn` (the caller's transaction); returns how many buckets were touched."""
        rows = rollup(records)
        if rows:
            await conn.execute(self._upsert, rows)
        return len(rows)
