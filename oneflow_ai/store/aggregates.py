"""Usage aggregates, hourly and daily, kept in the same transaction as the ledger rows they sum.

A `Grain` is an aggregate table and how a record's time is cut down to its bucket: `HOURLY` (`usage_hourly`,
the UTC hour) and `DAILY` (`usage_daily`, the UTC day at midnight). `rollup` groups records by (bucket,
dimensions) and sums them (pure). `Aggregates.add` upserts those sums into every grain's table with
`ON CONFLICT DO UPDATE SET x = x + excluded.x`, so every replica adds into the same bucket row. The ledger
passes only the records its insert actually wrote (`RETURNING request_id`), so a retried batch never counts twice.
Tables are written in a fixed order (hourly, then daily) and buckets in key order: two replicas upserting the
same buckets lock them in the same order.

Latency is kept as a sum (`latency_ms_sum`, for the mean) and a histogram (`LATENCY_COLUMNS`, one count per
bucket of `LATENCY_BOUNDS_MS`), so a percentile over any range is read from the aggregates to within a bucket.

On SQLite, NUMERIC is stored as a 64-bit float, which holds any decimal of up to 15 significant digits: money
read back goes through `sqlite_money` (rounded to those 15 digits, at most the column's 12 decimals), so it
prints as the decimal it stands for (`15934.9`, not `15934.900000000001`): exact to 1e-12 USD up to $1,000 and
to the cent up to $10 trillion. The ledger's SQLite writer rounds each bucket sum to 12 decimals as it adds, so
small buckets gather no float error however many batches they take. PostgreSQL's NUMERIC is exact at any size.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from oneflow_ai.pricing.engine import exact, exact_context
from oneflow_ai.store.dialects import upsert_dialect
from oneflow_ai.store.tables import AGGREGATE_DIMENSIONS, LATENCY_BOUNDS_MS, LATENCY_COLUMNS, usage_daily, usage_hourly

if TYPE_CHECKING:
    from oneflow_ai.store.ledger import UsageRecord

SUMS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "credits",
    "errors",
    "cache_hits",
    "saved_usd",
    "guardrail_blocked",
    "guardrail_redacted",
    "latency_ms_sum",
    *LATENCY_COLUMNS,
)
"""The summed columns of a bucket, in the order of a bucket's sums (`_empty`)."""
MONEY_SUMS = ("cost_usd", "credits", "saved_usd")
LATENCY_SUM = SUMS.index("latency_ms_sum")
LATENCY_FIRST = LATENCY_SUM + 1
"""Where the latency histogram's counts start in a bucket's sums (one per `LATENCY_COLUMNS`, in that order)."""
COUNT_INDEXES = (0, 1, 2, 3, 6, 7, 9, 10, LATENCY_SUM, *range(LATENCY_FIRST, len(SUMS)))
"""The sums added with `+` (counts, and the latency sum, a float); the others are money (`MONEY_INDEXES`)."""
MONEY_INDEXES = (4, 5, 8)
REDACTING = frozenset({"redact", "mask"})
SQLITE_DIGITS = 15
"""Significant digits of any decimal that a 64-bit float holds exactly (C's `DBL_DIG`)."""
MONEY_DECIMALS = 12
"""The money columns' scale (`NUMERIC(20, 12)`)."""


def sqlite_money(value: Decimal | float | int | None) -> Decimal:
    """Money as SQLite gave it back (a float, or SQLAlchemy's Decimal of one): the decimal it stands for,
    rounded to `SQLITE_DIGITS` significant digits and at most `MONEY_DECIMALS` decimals; float noise past
    them (`0.1 + 0.2`, sums over many batches) is dropped."""
    if not value:
        return Decimal(0)
    amount = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    exponent = max(amount.adjusted() - SQLITE_DIGITS + 1, -MONEY_DECIMALS)
    rounding = Context(prec=40, rounding=ROUND_HALF_EVEN)  # its own: callers may trap any rounding (`exact()`)
    return amount.quantize(Decimal(1).scaleb(exponent, rounding), context=rounding).normalize(rounding)


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts if ts.tzinfo is UTC else ts.astimezone(UTC)


def hour_of(ts: datetime) -> datetime:
    """The UTC hour `ts` falls in (a naive `ts` is taken as UTC)."""
    return _utc(ts).replace(minute=0, second=0, microsecond=0)


def day_of(ts: datetime) -> datetime:
    """The UTC day `ts` falls in, as its midnight (a naive `ts` is taken as UTC)."""
    return _utc(ts).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Grain:
    """An aggregate table, the name of its bucket column and the cut from a time to its bucket."""

    table: Table
    bucket: str
    truncate: Callable[[datetime], datetime]

    @property
    def column(self) -> Any:
        return self.table.c[self.bucket]


HOURLY = Grain(usage_hourly, "hour", hour_of)
DAILY = Grain(usage_daily, "day", day_of)
GRAINS = (HOURLY, DAILY)
"""Every grain the ledger keeps, in the order their tables are written."""


def dimensions(r: UsageRecord) -> tuple[str, ...]:
    """The record's values of `AGGREGATE_DIMENSIONS`, in that order; a missing one is ''."""
    return (
        r.key_id or "",
        r.user_id or "",
        r.end_user or "",
        r.department_id or "",
        r.tenant_id or "",
        r.requested_model or "",
        r.served_model or "",
        r.provider or "",
    )


def _empty() -> list[Any]:
    """A bucket's sums before any record: zero of each of `SUMS`."""
    return [0, 0, 0, 0, Decimal(0), Decimal(0), 0, 0, Decimal(0), 0, 0, 0.0, *(0 for _ in LATENCY_COLUMNS)]


def latency_bucket(latency_ms: float) -> int:
    """The index in `LATENCY_COLUMNS` of the histogram bucket a latency counts in: the first bound it does not
    exceed (`lat_le_100` holds 100 ms itself), or the last bucket (`lat_gt_30000`) past every bound."""
    return bisect_left(LATENCY_BOUNDS_MS, latency_ms)


def _add_latency(s: list[Any], latency_ms: float | None) -> None:
    """A record's latency into a bucket's sums: its milliseconds to the sum and 1 to its histogram bucket. A
    record without one (refused before any call) adds to neither, so the mean and percentiles are over the
    records that have one."""
    if latency_ms is not None:
        s[LATENCY_SUM] += latency_ms
        s[LATENCY_FIRST + latency_bucket(latency_ms)] += 1


def _rows(grain: Grain, sums: dict[tuple[Any, ...], list[Any]]) -> list[dict[str, Any]]:
    """Rows of an aggregate table from sums keyed by (bucket, *dimensions), in key order."""
    return [
        {
            grain.bucket: key[0],
            **dict(zip(AGGREGATE_DIMENSIONS, key[1:], strict=True)),
            **dict(zip(SUMS, s, strict=True)),
        }
        for key, s in sorted(sums.items())
    ]


def rollup(records: Iterable[UsageRecord], grain: Grain = HOURLY) -> list[dict[str, Any]]:
    """One row per (bucket, dimensions) with the records' sums, in bucket-key order; a missing dimension is ''."""
    sums: dict[tuple[Any, ...], list[Any]] = {}
    truncate = grain.truncate
    with exact():
        for r in records:
            key = (truncate(r.created_at), *dimensions(r))
            s = sums.get(key)
            if s is None:
                s = sums[key] = _empty()
            s[0] += 1
            s[1] += r.input_tokens
            s[2] += r.output_tokens
            s[3] += r.cached_tokens
            s[4] += r.cost_usd
            s[5] += r.credits
            s[6] += r.status != "ok"
            s[7] += r.cache_hit
            s[8] += r.saved_usd
            s[9] += r.guardrail_action == "block"
            s[10] += r.guardrail_action in REDACTING
            _add_latency(s, r.latency_ms)
    return _rows(grain, sums)


class Tally:
    """`rollup` of every grain, kept as records come (one record at a time, the same arithmetic): the SQLite
    ledger adds each record when it is made, so its writer has only SQL left to run."""

    def __init__(self, grains: Sequence[Grain] = GRAINS) -> None:
        self.grains = tuple(grains)
        self._sums: list[dict[tuple[Any, ...], list[Any]]] = [{} for _ in self.grains]
        self._ctx = exact_context()

    def add(self, r: UsageRecord) -> None:
        dims = dimensions(r)
        add = self._ctx.add
        failed = r.status != "ok"
        latency = r.latency_ms
        if latency is not None:  # `_add_latency`, its bucket found once for every grain (this is on every call)
            bucket = LATENCY_FIRST + bisect_left(LATENCY_BOUNDS_MS, latency)
        for grain, sums in zip(self.grains, self._sums, strict=True):
            key = (grain.truncate(r.created_at), *dims)
            s = sums.get(key)
            if s is None:
                s = sums[key] = _empty()
            s[0] += 1
            s[1] += r.input_tokens
            s[2] += r.output_tokens
            s[3] += r.cached_tokens
            s[4] = add(s[4], r.cost_usd)
            s[5] = add(s[5], r.credits)
            s[6] += failed
            if r.cache_hit:
                s[7] += 1
                s[8] = add(s[8], r.saved_usd)
            if r.guardrail_action is not None:
                s[9] += r.guardrail_action == "block"
                s[10] += r.guardrail_action in REDACTING
            if latency is not None:
                s[LATENCY_SUM] += latency
                s[bucket] += 1

    def absorb(self, other: Tally) -> None:
        """Add another tally's sums into this one (a batch that failed goes back in front of newer records)."""
        add = self._ctx.add
        for mine, theirs in zip(self._sums, other._sums, strict=True):
            for key, t in theirs.items():
                s = mine.get(key)
                if s is None:
                    mine[key] = list(t)
                    continue
                for i in COUNT_INDEXES:
                    s[i] += t[i]
                for i in MONEY_INDEXES:
                    s[i] = add(s[i], t[i])

    def rows(self, grain: Grain) -> list[dict[str, Any]]:
        """`rollup(records, grain)` of the records added so far."""
        return _rows(grain, self._sums[self.grains.index(grain)])


class Aggregates:
    """Adds records into every grain's table; the statements are built once per dialect."""

    def __init__(self, dialect_name: str, grains: Sequence[Grain] = GRAINS) -> None:
        dialect = upsert_dialect(dialect_name)
        self._upserts = []
        for grain in grains:
            insert = dialect.insert(grain.table)
            upsert = insert.on_conflict_do_update(
                index_elements=[grain.bucket, *AGGREGATE_DIMENSIONS],
                set_={c: grain.table.c[c] + insert.excluded[c] for c in SUMS},
            )
            self._upserts.append((grain, upsert))

    async def add_rows(self, conn: AsyncConnection, tally: Tally) -> None:
        """Upsert sums already added up (a `Tally` of the records just inserted)."""
        for grain, upsert in self._upserts:
            rows = tally.rows(grain)
            if rows:
                await conn.execute(upsert, rows)

    async def add(self, conn: AsyncConnection, records: Iterable[UsageRecord]) -> int:
        """Upsert the records' sums on `conn` (the caller's transaction); returns how many buckets were touched."""
        records = list(records)
        touched = 0
        for grain, upsert in self._upserts:
            rows = rollup(records, grain)
            if rows:
                await conn.execute(upsert, rows)
            touched += len(rows)
        return touched
