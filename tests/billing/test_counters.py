"""In-process budget counters and the hourly rollup, without a server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from oneflow_ai.billing.budget import Budget, Slot
from oneflow_ai.billing.counters import LocalCounters
from oneflow_ai.store.aggregates import rollup
from oneflow_ai.store.ledger import UsageRecord

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
cents = st.integers(0, 500).map(lambda c: Decimal(c) / 100)


def slot(limit: str, period: str = "daily") -> Slot:
    return Budget("b1", "key", "k", period, Decimal(limit)).slot(NOW)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.booleans(), cents, st.integers(0, 100)), max_size=60), cents)
def test_interleaved_calls_never_overspend(ops: list[tuple[bool, Decimal, int]], limit: Decimal) -> None:
    """Any interleaving of reserve and settle, each call costing at most its estimate: spend stays within the
    limit, and `reserved` is exactly the sum of the holds not yet settled."""
    counters, s = LocalCounters(), Slot(Budget("b", "key", "k", "total", limit), NOW)
    open_: dict[str, tuple[Decimal, Decimal]] = {}

    async def run() -> None:
        for i, (settle_one, estimate, percent) in enumerate(ops):
            if settle_one and open_:
                rid, (_, cost) = next(iter(open_.items()))
                del open_[rid]
                await counters.settle(rid, [s], [s], cost)
            elif await counters.reserve(f"r{i}", [s], estimate, 60) is None:
                open_[f"r{i}"] = (estimate, estimate * percent / 100)
            spent, reserved = await counters.read(s)
            assert spent + reserved <= limit
            assert reserved == sum((e for e, _ in open_.values()), Decimal(0))

    asyncio.run(run())


def test_all_or_nothing_across_budgets() -> None:
    counters, roomy, tight = LocalCounters(), slot("10"), Budget("b2", "user", "u", "daily", Decimal("1")).slot(NOW)

    async def run() -> None:
        assert await counters.reserve("r1", [roomy, tight], Decimal("0.75"), 60) is None
        assert await counters.reserve("r2", [roomy, tight], Decimal("0.5"), 60) is tight
        assert await counters.read(roomy) == (Decimal(0), Decimal("0.75"))  # r2 took nothing from the roomy one
        assert await counters.settle("r1", [roomy, tight], [roomy, tight], Decimal("0.7")) == [Decimal("0.7")] * 2
        assert await counters.read(tight) == (Decimal("0.7"), Decimal(0))

    asyncio.run(run())


def test_lapsed_holds_and_ended_periods_are_swept() -> None:
    clock = [0.0]
    counters, s = LocalCounters(clock=lambda: clock[0]), slot("1")

    async def run() -> None:
        await counters.seed(s, Decimal("0.25"))
        await counters.seed(s, Decimal("0.9"))  # seeded once: a later seed does not overwrite
        assert await counters.reserve("r1", [s], Decimal("0.5"), hold_s=30) is None
        clock[0] = 31
        await counters.sweep(NOW)
        assert await counters.read(s) == (Decimal("0.25"), Decimal(0))
        await counters.sweep(NOW + timedelta(days=1))
        assert await counters.read(s) == (Decimal(0), Decimal(0))

    asyncio.run(run())


def record(rid: str, at: datetime, cost: str, status: str = "ok", key: str | None = "k1") -> UsageRecord:
    return UsageRecord(
        rid,
        at,
        "chat",
        "mini",
        status,
        200,
        Decimal(cost),
        Decimal(cost) * 100,
        "upstream",
        key_id=key,
        input_tokens=3,
        output_tokens=2,
        cached_tokens=1,
    )


def test_rollup_groups_by_hour_and_dimensions() -> None:
    est = datetime(2025, 1, 1, 5, 59, tzinfo=UTC).astimezone(tz=None)
    rows = rollup(
        [
            record("a", NOW, "0.000001"),
            record("b", NOW + timedelta(minutes=50), "0.000002", status="upstream_error"),
            record("c", NOW + timedelta(hours=1), "0.5"),
            record("d", NOW, "1", key=None),
            record("e", est, "2"),
        ]
    )
    assert [(r["hour"].isoformat(), r["key_id"], r["requests"], r["cost_usd"], r["errors"]) for r in rows] == [
        ("2025-01-01T05:00:00+00:00", "k1", 1, Decimal("2"), 0),
        ("2025-03-14T15:00:00+00:00", "", 1, Decimal("1"), 0),
        ("2025-03-14T15:00:00+00:00", "k1", 2, Decimal("0.000003"), 1),
        ("2025-03-14T16:00:00+00:00", "k1", 1, Decimal("0.5"), 0),
    ]
    assert rows[2]["input_tokens"] == 6 and rows[2]["credits"] == Decimal("0.0003")
