"""Which aggregate answers a usage report, and that the daily and the hourly buckets agree over several days."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from oneflow_ai.billing.usage import UsageQuery, grain_for, usage
from oneflow_ai.store.aggregates import DAILY, HOURLY, rollup
from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.ledger import Ledger, UsageRecord
from oneflow_ai.store.tables import usage_daily, usage_hourly
from tests.billing.conftest import aggregate_totals

MIDNIGHT = datetime(2025, 3, 14, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("start", "end", "group_by", "grain"),
    [
        (None, None, (), DAILY),
        (None, None, ("day", "model"), DAILY),
        (None, None, ("hour",), HOURLY),
        (MIDNIGHT, MIDNIGHT + timedelta(days=7), ("model",), DAILY),
        (MIDNIGHT.astimezone(IST), None, ("day",), DAILY),  # the same instant, written in another zone
        (MIDNIGHT, MIDNIGHT + timedelta(days=1), ("hour",), HOURLY),
        (MIDNIGHT + timedelta(hours=1), None, ("day",), HOURLY),
        (None, MIDNIGHT + timedelta(seconds=1), (), HOURLY),
        (MIDNIGHT.replace(tzinfo=IST), None, (), HOURLY),  # midnight in India is not a UTC midnight
    ],
)
def test_daily_buckets_only_for_whole_utc_days_without_hours(
    start: datetime | None, end: datetime | None, group_by: tuple[str, ...], grain: Any
) -> None:
    assert grain_for(UsageQuery(start=start, end=end, group_by=group_by)) is grain


def record(i: int, at: datetime, tag: str) -> UsageRecord:
    cost = Decimal(i + 1) / 1000
    return UsageRecord(
        request_id=f"{tag}-{i}",
        created_at=at,
        endpoint="chat",
        requested_model=("a", "b")[i // 3 % 2],
        status="ok" if i % 5 else "upstream_error",
        http_status=200 if i % 5 else 502,
        cost_usd=cost,
        credits=cost * 100,
        usage_source="upstream",
        end_user=tag,
        provider=("p", None)[i % 2],
        input_tokens=10 + i,
        output_tokens=i,
    )


def test_daily_and_hourly_buckets_agree_over_days(database_url: str, tag: str) -> None:
    """Records around three midnights: every report over whole days answers the same from either table."""
    times = [MIDNIGHT + timedelta(days=d, hours=h, minutes=m) for d in range(3) for h, m in ((0, 0), (11, 5), (23, 59))]
    records = [record(i, at, tag) for i, at in enumerate(times)]
    assert len(rollup(records, DAILY)) < len(rollup(records, HOURLY))

    async def go() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            ledger = Ledger(engine, batch_size=4)
            for r in records:
                ledger.record(r)
            await ledger.flush()
            ledger.record(records[0])  # a retried record is skipped by both aggregates
            await ledger.flush()
            out = []
            for start, end in ((MIDNIGHT, MIDNIGHT + timedelta(days=3)), (MIDNIGHT + timedelta(days=1), None)):
                ragged = (start + timedelta(minutes=1), end - timedelta(minutes=1) if end else None)
                for group_by in ((), ("day",), ("model", "provider"), ("day", "model")):
                    aligned_q = UsageQuery({"end_user": tag}, start, end, group_by)
                    ragged_q = UsageQuery({"end_user": tag}, *ragged, group_by)
                    assert grain_for(aligned_q) is DAILY and grain_for(ragged_q) is HOURLY
                    out.append(
                        (await usage(engine, aligned_q, Decimal(83)), await usage(engine, ragged_q, Decimal(83)))
                    )
            return out
        finally:
            await engine.dispose()

    answers = asyncio.run(go())
    for aligned, ragged in answers:
        assert aligned == ragged
    assert answers[0][0]["totals"]["requests"] == len(records)
    assert Decimal(answers[0][0]["totals"]["cost_usd"]) == sum((r.cost_usd for r in records), Decimal(0))
    assert [g["day"] for g in answers[1][0]["groups"]] == ["2025-03-14", "2025-03-15", "2025-03-16"]
    daily = aggregate_totals(database_url, tag, usage_daily)
    hourly = aggregate_totals(database_url, tag, usage_hourly)
    assert {k: Decimal(v) for k, v in daily.items()} == {k: Decimal(v) for k, v in hourly.items()}
    assert daily["requests"] == len(records) and daily["errors"] == sum(r.status != "ok" for r in records)


def test_spans_cover_the_range_with_whole_days_from_the_daily_table() -> None:
    from oneflow_ai.billing.usage import spans

    start = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
    end = datetime(2026, 3, 31, 5, 0, tzinfo=UTC)
    assert spans(UsageQuery(start=start, end=end, group_by=("model",))) == [
        (HOURLY, datetime(2026, 3, 1, 7, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)),
        (DAILY, datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)),
        (HOURLY, datetime(2026, 3, 31, tzinfo=UTC), end),
    ]
    assert spans(UsageQuery(start=start, end=end, group_by=("hour",))) == [(HOURLY, start, end)]
    same_day = UsageQuery(start=start, end=datetime(2026, 3, 1, 20, tzinfo=UTC))
    assert spans(same_day) == [(HOURLY, datetime(2026, 3, 1, 7, tzinfo=UTC), datetime(2026, 3, 1, 20, tzinfo=UTC))]
    assert spans(UsageQuery(start=start)) == [
        (HOURLY, datetime(2026, 3, 1, 7, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)),
        (DAILY, datetime(2026, 3, 2, tzinfo=UTC), None),
    ]
