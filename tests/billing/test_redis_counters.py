"""The Redis budget counters against a real Redis: all-or-nothing reserve, settle, lapsed holds, re-seeding."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from types import SimpleNamespace

import pytest
import redis
from redis.asyncio import Redis

from oneflow_ai.billing import redis_counters
from oneflow_ai.billing.budget import Budget
from oneflow_ai.billing.redis_counters import RedisCounters
from oneflow_ai.gateway.stages import Ready
from oneflow_ai.store.redis_batches import RedisBatches
from oneflow_ai.store.resp import RespClient
from oneflow_ai.store.room_view import RoomView

REDIS_URL = os.environ.get("ONEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def need_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")


def frozen_view() -> RoomView:
    """A view whose answers never age: what it admits depends on Redis's answers, not on how fast this machine is."""
    return RoomView(5.0, clock=lambda: 1_000.0)


def with_counters(test: Callable[[RedisCounters, Redis], Awaitable[None]]) -> None:
    async def run() -> None:
        client = Redis.from_url(REDIS_URL)
        prefix = f"oneflow-test:{uuid.uuid4().hex[:10]}"
        try:
            await test(RedisCounters(client, RedisBatches(RespClient(REDIS_URL)), prefix=prefix), client)
        finally:
            keys = [k async for k in client.scan_iter(f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()

    asyncio.run(run())


def test_reserve_is_all_or_nothing_and_settles() -> None:
    roomy = Budget("a", "key", "k", "daily", Decimal("10")).slot(NOW)
    tight = Budget("b", "user", "u", "monthly", Decimal("1")).slot(NOW)

    async def test(c: RedisCounters, _: Redis) -> None:
        assert await c.reserve("r1", [roomy, tight], Decimal("0.75"), 60) is None
        assert await c.reserve("r2", [roomy, tight], Decimal("0.5"), 60) == tight
        assert await c.read(roomy) == (Decimal(0), Decimal("0.75"))
        assert await c.settle("r1", [roomy, tight], [roomy, tight], Decimal("0.7")) == [Decimal("0.7")] * 2
        assert await c.read(tight) == (Decimal("0.7"), Decimal(0))
        assert await c.settle("r1", [roomy], [], Decimal(0)) == []  # settling twice releases nothing more
        assert await c.read(roomy) == (Decimal("0.7"), Decimal(0))

    with_counters(test)


def test_a_lapsed_hold_is_purged_by_the_next_reserve(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Budget("c", "key", "k", "total", Decimal("1")).slot(NOW)
    wall = [time.time()]  # a hold lapses by the time its reserve was asked at: the test moves it, not the machine
    monkeypatch.setattr(redis_counters, "time", SimpleNamespace(time=lambda: wall[0], monotonic=time.monotonic))

    async def test(c: RedisCounters, _: Redis) -> None:
        assert await c.reserve("dead", [s], Decimal("0.9"), hold_s=0.5) is None  # its replica died
        wall[0] += 0.499
        assert await c.reserve("r2", [s], Decimal("0.5"), 60) == s  # still held
        wall[0] += 0.002
        assert await c.reserve("r3", [s], Decimal("0.5"), 60) is None
        assert await c.read(s) == (Decimal(0), Decimal("0.5"))

    with_counters(test)


def test_seeding_never_counts_twice() -> None:
    s = Budget("d", "key", "k", "weekly", Decimal("100")).slot(NOW)

    async def test(c: RedisCounters, client: Redis) -> None:
        await c.seed(s, Decimal("3"))
        await c.seed(s, Decimal("5"))  # seeded already: kept
        assert (await c.read(s))[0] == Decimal("3")
        await client.delete(c._hash(s))  # Redis lost it; spend since then arrives first
        await c.settle("r", [], [s], Decimal("1"))
        await c.seed(s, Decimal("4"))  # the ledger's count includes that spend: the larger one wins
        assert (await c.read(s))[0] == Decimal("4")
        assert 0 < await client.ttl(c._hash(s)) <= 8 * 86400 + 86400

    with_counters(test)


def test_with_views_two_replicas_hold_far_from_the_limit_without_waiting_and_redis_still_decides_it() -> None:
    """Two replicas with views, 6,000 holds of $1 on a $5,000 budget: exactly 5,000 held, most of them without a
    round trip, every one of them in Redis once; then settling releases them."""
    s = Budget("v", "tenant", "t", "monthly", Decimal("5000")).slot(NOW)

    async def test(c: RedisCounters, client: Redis) -> None:
        prefix = c._prefix
        replicas = [
            RedisCounters(client, RedisBatches(RespClient(REDIS_URL)), prefix=prefix, view=frozen_view()) for _ in "ab"
        ]
        decided_here, held = 0, []

        async def hold(replica: RedisCounters, rid: str) -> None:
            nonlocal decided_here
            pending = replica.reserve(rid, [s], Decimal(1), 60)
            decided_here += isinstance(pending, Ready)
            if await pending is None:
                held.append((replica, rid))

        for wave in range(3_000 // 50):
            await asyncio.gather(*(hold(r, f"{wave}-{i}-{n}") for i in range(50) for n, r in enumerate(replicas)))
        for replica in replicas:
            await replica.drain()
        assert len(held) == 5_000
        assert await c.read(s) == (Decimal(0), Decimal(5_000))
        assert decided_here > 2_500  # of the 3,750 holds above a quarter of the budget, after the first answers
        for replica, rid in held:
            replica.settle_behind(rid, [s], [s], Decimal("0.5"), lambda _: None)
        for replica in replicas:
            await replica.drain()
        assert await c.read(s) == (Decimal(2_500), Decimal(0))

    with_counters(test)


def test_with_a_view_calls_settled_before_their_round_trip_send_one_summed_spend_and_no_holds() -> None:
    """1,000 holds admitted on the view and settled within one `behind_s`: Redis gets one spend per budget (their
    sum) and never a hold; each settlement still hears the spend after it, as if settled one by one. A hold still
    open when the round trip goes is written as a hold, and its settlement releases it."""
    a = Budget("a", "tenant", "t", "monthly", Decimal("100000")).slot(NOW)
    b = Budget("b", "key", "k", "daily", Decimal("50000")).slot(NOW)

    async def test(c: RedisCounters, client: Redis) -> None:
        commands: list[list[object]] = []

        class Recording(RespClient):
            """Records the commands Redis ran (one refused for a script it did not know yet is sent again)."""

            async def execute(self, batch: list[list[object]]) -> list[object]:  # type: ignore[override]
                replies = await super().execute(batch)
                commands.extend(c for c, r in zip(batch, replies, strict=True) if not str(r).startswith("NOSCRIPT"))
                return replies

        replica = RedisCounters(  # the round trip goes when drained (`behind_s` never comes within the test)
            client, RedisBatches(Recording(REDIS_URL), behind_s=3600), prefix=c._prefix, view=frozen_view()
        )
        assert await replica.reserve("first", [a, b], Decimal(1), 60) is None  # asks Redis: the view knows nothing
        replica.settle_behind("first", [a, b], [a, b], Decimal("0.25"), lambda _: None)
        heard: list[list[Decimal]] = []
        for i in range(1_000):
            pending = replica.reserve(f"r{i}", [a, b], Decimal(1), 60)
            assert isinstance(pending, Ready) and await pending is None
            replica.settle_behind(f"r{i}", [a, b], [a, b], Decimal("0.5"), heard.append)
        assert isinstance(replica.reserve("open", [a, b], Decimal(1), 60), Ready)
        await replica.drain()
        assert await c.read(a) == await c.read(b) == (Decimal("500.25"), Decimal(1))  # 'open' is held
        assert heard[0] == [Decimal("0.75")] * 2 and heard[-1] == [Decimal("500.25")] * 2
        assert all(y[0] - x[0] == Decimal("0.5") for x, y in pairwise(heard))
        spends = [cmd for cmd in commands if cmd[0] == "EVALSHA" and cmd[2] == 2 and b'"500000000000"' in cmd[-1]]
        assert len(spends) == 1  # one call: 2 budgets, 1,000 x $0.5 each in nano-dollars
        fields = await client.hkeys(replica._hash(a))
        assert sorted(f.decode() for f in fields if f.startswith(b"r:")) == ["r:open"]
        replica.settle_behind("open", [a, b], [a, b], Decimal("0.5"), lambda _: None)
        await replica.drain()
        assert await c.read(a) == await c.read(b) == (Decimal("500.75"), Decimal(0))

    with_counters(test)


def test_a_free_call_holds_zero_and_settles_and_lapses_without_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model priced at 0 reserves 0: releasing that hold (settle, or a lapsed one purged) must not send Redis
    `HINCRBY reserved -0`, which it refuses (every such call was a 500)."""
    s = Budget("z", "model", "free", "monthly", Decimal("3")).slot(NOW)
    wall = [time.time()]
    monkeypatch.setattr(redis_counters, "time", SimpleNamespace(time=lambda: wall[0], monotonic=time.monotonic))

    async def test(c: RedisCounters, _: Redis) -> None:
        assert await c.reserve("free-1", [s], Decimal(0), 60) is None
        assert await c.settle("free-1", [s], [s], Decimal(0)) == [Decimal(0)]
        assert await c.reserve("free-2", [s], Decimal(0), hold_s=0.5) is None  # never settled: its replica died
        wall[0] += 1
        assert await c.reserve("paid", [s], Decimal("0.5"), 60) is None  # purges free-2's lapsed hold
        assert await c.read(s) == (Decimal(0), Decimal("0.5"))

    with_counters(test)
