"""The Redis store on the shared Redis (under a prefix of this test's own): a lookup counts its hit, saving or
miss in the same round trip, entries and counts are per tenant, a clear narrows to a tenant and a model; and a
Redis that does not answer makes lookups misses and writes no-ops, never errors."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from redis.asyncio import Redis

from oneflow_ai.cache.entry import Entry, encode
from oneflow_ai.cache.key import Address
from oneflow_ai.cache.redis_store import RedisStore
from oneflow_ai.providers.base import Usage
from tests.conftest import SHARED_REDIS_URL

DATA = encode(Entry(b'{"id": "c"}', Usage(3, 4), Decimal("0.000123456789"), "gpt"))


def test_counts_entries_and_clears_per_tenant_and_model(redis_prefix: str) -> None:
    async def go() -> None:
        redis = Redis.from_url(SHARED_REDIS_URL)
        store = RedisStore(redis, prefix=redis_prefix.rstrip(":"))
        try:
            await store.put(Address("a", "m1", "1" * 64), DATA, 60)
            await store.put(Address("a", "m2", "2" * 64), DATA, 60)
            await store.put(Address("b", "m1", "1" * 64), DATA, 60)
            assert await store.get(Address("a", "m1", "1" * 64), count_miss=True) == DATA
            assert await store.get(Address("a", "m1", "9" * 64), count_miss=True) is None
            assert await store.get(Address("a", "m1", "8" * 64), count_miss=False) is None  # not counted
            await store.miss("a")
            a = (await store.stats("a"))["a"]
            assert (a.entries, a.bytes, a.hits, a.misses, a.saved_usd) == (
                2,
                2 * len(DATA),
                1,
                2,
                Decimal("0.000123456789"),
            )
            assert set(await store.stats(None)) == {"a", "b"}
            assert await store.clear("a", "m2") == 1
            assert await store.clear("a", None) == 1
            assert (await store.stats("b"))["b"].entries == 1  # another tenant's entry stays
            assert await store.clear(None, None) == 1
        finally:
            await redis.aclose()

    asyncio.run(go())


def test_a_redis_that_does_not_answer_is_a_miss_not_an_error() -> None:
    async def go() -> None:
        redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
        store = RedisStore(redis)
        try:
            assert await store.get(Address("a", "m", "1" * 64), count_miss=True) is None
            await store.put(Address("a", "m", "1" * 64), DATA, 60)
            await store.miss("a")
        finally:
            await redis.aclose()

    asyncio.run(go())
