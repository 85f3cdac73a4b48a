"""A flush whose outcome was lost (written, then an error) is tried again with the records that came meanwhile:
every record lands once and the aggregates count it once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger
from oneflow_ai.store.tables import usage_daily, usage_hourly
from tests.billing.conftest import aggregate_totals, ledger_for
from tests.billing.test_usage_grain import record

START = datetime(2025, 6, 1, 10, tzinfo=UTC)


class LostAnswer(Exception):
    pass


@pytest.mark.parametrize("lost_after_write", [True, False], ids=["written-then-lost", "failed-before-writing"])
def test_a_failed_flush_tried_again_counts_every_record_once(
    database_url: str, tag: str, lost_after_write: bool
) -> None:
    first = [record(i, START + timedelta(minutes=i), tag) for i in range(5)]
    later = [record(i, START + timedelta(hours=2, minutes=i), tag) for i in range(5, 9)]

    async def go() -> None:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            ledger = Ledger(engine, batch_size=100)
            writer: Any = ledger._writer
            real = writer._write
            calls = 0

            def failing_once(*args: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls > 1:
                    return real(*args)
                if not lost_after_write:
                    raise LostAnswer
                if asyncio.iscoroutinefunction(real):

                    async def written_then_lost() -> None:
                        await real(*args)
                        raise LostAnswer

                    return written_then_lost()
                real(*args)
                raise LostAnswer

            writer._write = failing_once
            for r in first:
                ledger.record(r)
            with pytest.raises(LostAnswer):
                await ledger.flush()
            assert ledger.depth == len(first)  # nothing is lost
            for r in later:
                ledger.record(r)
            assert await ledger.flush() == len(first) + len(later)
            assert ledger.depth == 0
            await ledger.close()
        finally:
            await engine.dispose()

    asyncio.run(go())
    everything = first + later
    assert sorted(r["request_id"] for r in ledger_for(database_url, tag, expect=len(everything))) == sorted(
        r.request_id for r in everything
    )
    for table in (usage_hourly, usage_daily):
        totals = aggregate_totals(database_url, tag, table)
        assert totals["requests"] == len(everything)
        assert totals["input_tokens"] == sum(r.input_tokens for r in everything)
        assert Decimal(totals["cost_usd"]) == sum((r.cost_usd for r in everything), Decimal(0))
