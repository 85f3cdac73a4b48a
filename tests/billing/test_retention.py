"""Raw-record retention keeps the hourly aggregates; a retried ledger batch is never aggregated twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger, UsageRecord
from oneflow_ai.store.retention import Retention
from oneflow_ai.store.tables import usage_hourly, usage_records

NOW = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)


def rec(rid: str, at: datetime, tag: str) -> UsageRecord:
    return UsageRecord(
        rid,
        at,
        "chat",
        "mini",
        "ok",
        200,
        Decimal("0.000001"),
        Decimal("0.0001"),
        "upstream",
        end_user=tag,
        input_tokens=5,
        output_tokens=2,
    )


def test_old_records_go_and_their_aggregates_stay(database_url: str, tag: str) -> None:
    async def run() -> None:
        engine = create_engine(database_url)
        await migrate(engine)
        ledger = Ledger(engine)
        old = [rec(f"{tag}-old-{i}", NOW - timedelta(days=100, minutes=i), tag) for i in range(3)]
        new = [rec(f"{tag}-new-{i}", NOW - timedelta(days=1), tag) for i in range(2)]
        for r in (*old, *new):
            ledger.record(r)
        await ledger.flush()
        for r in old:  # a retried batch: the ids are there already, so nothing is added twice
            ledger.record(r)
        await ledger.flush()
        deleted = await Retention(engine, days=90, wall=lambda: NOW).prune()
        async with engine.connect() as conn:
            left = (
                (await conn.execute(select(usage_records.c.request_id).where(usage_records.c.end_user == tag)))
                .scalars()
                .all()
            )
            requests, cost = (
                await conn.execute(
                    select(func.sum(usage_hourly.c.requests), func.sum(usage_hourly.c.cost_usd)).where(
                        usage_hourly.c.end_user == tag
                    )
                )
            ).one()
        await engine.dispose()
        assert deleted >= 3 and sorted(left) == sorted(r.request_id for r in new)
        assert (requests, Decimal(cost)) == (5, Decimal("0.000005"))

    asyncio.run(run())


def test_zero_days_keeps_everything(database_url: str, tag: str) -> None:
    """`days = 0` keeps records of any age: neither the start-up run nor a direct prune deletes one."""

    async def run() -> None:
        engine = create_engine(database_url)
        await migrate(engine)
        ledger = Ledger(engine)
        kept = [rec(f"{tag}-{age}", NOW - timedelta(days=age), tag) for age in (0, 1, 100, 10_000)]
        for r in kept:
            ledger.record(r)
        await ledger.flush()
        retention = Retention(engine, days=0, wall=lambda: NOW + timedelta(days=1))
        retention.start()
        assert await retention.prune() == 0
        await retention.close()
        async with engine.connect() as conn:
            query = select(usage_records.c.request_id).where(usage_records.c.end_user == tag)
            left = (await conn.execute(query)).scalars().all()
        await engine.dispose()
        assert sorted(left) == sorted(r.request_id for r in kept)

    asyncio.run(run())
