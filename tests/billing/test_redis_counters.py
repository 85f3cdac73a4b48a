"""The Redis budget counters against a real Redis: all-or-nothing reserve, settle, lapsed holds, re-seeding."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis
from redis.asyncio import Redis

from oneflow_ai.billing.budget import Budget
from oneflow_ai.billing.redis_counters import RedisCounters
from oneflow_ai.store.redis_batches import RedisBatches
from oneflow_ai.store.resp import RespClient

REDIS_URL = os.environ.get("ONEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def need_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")


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


def test_a_lapsed_hold_is_purged_by_the_next_reserve() -> None:
    s = Budget("c", "key", "k", "total", Decimal("1")).slot(NOW)

    async def test(c: RedisCounters, _: Redis) -> None:
        assert await c.reserve("dead", [s], Decimal("0.9"), hold_s=0.05) is None  # its replica died
        assert await c.reserve("r2", [s], Decimal("0.5"), 60) == s
        await asyncio.sleep(0.1)
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
