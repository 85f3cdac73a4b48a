"""Issue 14 (Low): money in usage reports prints as the exact decimal on both stores. SQLite keeps money as a
float, so a bucket that took several batches summed to `15934.900000000001` credits; the report now prints
`15934.9`, as PostgreSQL does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from oneflow_ai.billing.usage import UsageQuery, usage
from oneflow_ai.store.aggregates import sqlite_money
from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger, UsageRecord

AT = datetime(2026, 4, 2, 10, 15, tzinfo=UTC)
CREDITS = ("10000.1", "5000.3", "934.5")  # as floats, summed one batch at a time: 15934.900000000001
COSTS = ("0.1", "0.2", "0.000000000001")


def record(tag: str, i: int, cost: str, credits: str) -> UsageRecord:
    return UsageRecord(
        request_id=f"{tag}-{i}",
        created_at=AT + timedelta(minutes=i),
        endpoint="chat",
        requested_model="mini",
        status="ok",
        http_status=200,
        cost_usd=Decimal(cost),
        credits=Decimal(credits),
        usage_source="upstream",
        end_user=tag,
    )


def test_usage_report_money_prints_exactly(database_url: str) -> None:
    tag = f"money-{uuid.uuid4().hex[:10]}"

    async def go() -> list[dict[str, Any]]:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            ledger = Ledger(engine)
            for i, (cost, credits) in enumerate(zip(COSTS, CREDITS, strict=True)):
                ledger.record(record(tag, i, cost, credits))
                await ledger.flush()  # one batch each: the bucket is added to three times
            await ledger.close()
            hour = AT.replace(minute=0)
            return [
                await usage(engine, UsageQuery(filters={"end_user": tag}), Decimal("83.5")),
                await usage(engine, UsageQuery(filters={"end_user": tag}, group_by=("day",)), Decimal("83.5")),
                await usage(engine, UsageQuery(filters={"end_user": tag}, start=hour, group_by=("hour",)), Decimal(1)),
            ]
        finally:
            await engine.dispose()

    reports = asyncio.run(go())
    for report in reports:
        for totals in (report["totals"], *report["groups"]):
            assert totals["credits"] == "15934.9"
            assert totals["cost_usd"] == "0.300000000001"
    assert reports[0]["totals"]["cost_inr"] == "25.0500000000835"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (15934.900000000001, "15934.9"),
        (0.30000000000000004, "0.3"),
        (Decimal("15934.899999999998"), "15934.9"),
        (0.000123456789012, "0.000123456789"),  # the column keeps 12 decimals
        (999.999999999999, "999.999999999999"),
        (-2.675, "-2.675"),
        (12345678901.234567, "12345678901.2346"),  # 15 significant digits: to the cent and beyond
        (None, "0"),
    ],
)
def test_sqlite_money_is_the_decimal_the_float_stands_for(stored: Any, shown: str) -> None:
    assert format(sqlite_money(stored), "f") == shown
