"""The aggregates' latency sum and histogram: the pure rollup (each record with a latency adds it to the sum and 1
to its bucket), and the same sums in `usage_hourly` and `usage_daily` after the ledger wrote them, on SQLite and
PostgreSQL (the retried-batch path included)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from oneflow_ai.store.aggregates import DAILY, GRAINS, HOURLY, latency_bucket, rollup
from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger, UsageRecord
from oneflow_ai.store.tables import LATENCY_BOUNDS_MS, LATENCY_COLUMNS

START = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)


def record(i: int, latency_ms: float | None, *, minutes: int = 0, tag: str = "t", model: str = "m") -> UsageRecord:
    return UsageRecord(
        f"{tag}-{i}",
        START + timedelta(minutes=minutes),
        "chat",
        model,
        "ok",
        200,
        Decimal("0.001"),
        Decimal("0.1"),
        "upstream",
        end_user=tag,
        latency_ms=latency_ms,
    )


def column_of(latency_ms: float) -> str:
    """The histogram column a latency belongs in, found by reading the bounds one by one."""
    for bound in LATENCY_BOUNDS_MS:
        if latency_ms <= bound:
            return f"lat_le_{bound}"
    return f"lat_gt_{LATENCY_BOUNDS_MS[-1]}"


def expected(records: list[UsageRecord]) -> dict[str, Any]:
    """The latency sums of `records` as the aggregates should hold them, over all their buckets."""
    out: dict[str, Any] = {c: 0 for c in LATENCY_COLUMNS}
    out["latency_ms_sum"] = 0.0
    for r in records:
        if r.latency_ms is not None:
            out["latency_ms_sum"] += r.latency_ms
            out[column_of(r.latency_ms)] += 1
    return out


def test_a_latency_counts_in_the_first_bucket_whose_bound_it_does_not_exceed() -> None:
    cases = {0.0: 0, 99.9: 0, 100.0: 0, 100.01: 1, 250.0: 1, 999.0: 3, 29_999.0: 7, 30_000.0: 7, 30_000.5: 8}
    for latency, index in cases.items():
        assert latency_bucket(latency) == index, latency
        assert LATENCY_COLUMNS[index] == column_of(latency)


def test_rollup_adds_each_latency_to_the_sum_and_one_to_its_bucket() -> None:
    records = [record(0, 80.5), record(1, 100.0), record(2, 420.25), record(3, None), record(4, 45_000.0)]
    (row,) = rollup(records, HOURLY)
    assert row["requests"] == 5
    assert row["latency_ms_sum"] == 80.5 + 100.0 + 420.25 + 45_000.0
    assert {c: row[c] for c in LATENCY_COLUMNS} == {
        "lat_le_100": 2,
        "lat_le_250": 0,
        "lat_le_500": 1,
        "lat_le_1000": 0,
        "lat_le_2500": 0,
        "lat_le_5000": 0,
        "lat_le_10000": 0,
        "lat_le_30000": 0,
        "lat_gt_30000": 1,
    }


latencies = st.one_of(st.none(), st.integers(0, 200_000).map(lambda q: q / 4))  # quarters: float sums stay exact


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(latencies, st.integers(0, 60 * 30), st.sampled_from(["a", "b"])), max_size=40))
def test_every_bucket_sums_the_latencies_of_its_records(spec: list[tuple[float | None, int, str]]) -> None:
    records = [record(i, lat, minutes=m, model=model) for i, (lat, m, model) in enumerate(spec)]
    for grain in GRAINS:
        rows = rollup(records, grain)
        for row in rows:
            mine = [
                r
                for r in records
                if grain.truncate(r.created_at) == row[grain.bucket] and r.requested_model == row["requested_model"]
            ]
            want = expected(mine)
            assert {k: row[k] for k in want} == want
            assert sum(row[c] for c in LATENCY_COLUMNS) == sum(r.latency_ms is not None for r in mine)


def stored(database_url: str, tag: str) -> dict[str, dict[str, Any]]:
    """Per aggregate table, this tag's latency sums over all its buckets, read straight from the database."""

    async def go() -> dict[str, dict[str, Any]]:
        engine = create_engine(database_url)
        out: dict[str, dict[str, Any]] = {}
        try:
            async with engine.connect() as conn:
                for grain in GRAINS:
                    c = grain.table.c
                    rows = await conn.execute(
                        select(c.latency_ms_sum, *(c[k] for k in LATENCY_COLUMNS)).where(c.end_user == tag)
                    )
                    sums: dict[str, Any] = {"latency_ms_sum": 0.0} | {k: 0 for k in LATENCY_COLUMNS}
                    for row in rows:
                        for k, v in row._mapping.items():
                            sums[k] += v
                    out[grain.table.name] = sums
        finally:
            await engine.dispose()
        return out

    return asyncio.run(go())


def test_the_ledger_writes_the_latency_sums_once(database_url: str) -> None:
    """Records over a midnight, some without a latency; then a batch holding one record written before (its
    latency must not count twice)."""
    tag = f"lat-{uuid.uuid4().hex[:10]}"
    spread = [0.25, 100.0, 180.5, 260.0, 999.75, 2_400.0, 4_000.0, 9_000.0, 29_000.0, 31_000.0, None, 75.0]
    first = [record(i, lat, minutes=i * 10, tag=tag) for i, lat in enumerate(spread)]
    later = [record(100 + i, lat, minutes=i, tag=tag) for i, lat in enumerate((512.5, None, 88.0))]
    assert len(rollup(first, DAILY)) == 2  # over a midnight

    async def go() -> None:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            ledger = Ledger(engine, batch_size=5)
            for r in first:
                ledger.record(r)
            await ledger.flush()
            for r in (first[3], *later):  # a record already written comes again
                ledger.record(r)
            await ledger.flush()
            await ledger.close()
        finally:
            await engine.dispose()

    asyncio.run(go())
    want = expected(first + later)
    assert want["lat_gt_30000"] == 1 and want["lat_le_100"] == 4
    for table, sums in stored(database_url, tag).items():
        assert sums == want, table
