"""`SharedBreakers` against the real Redis on 127.0.0.1:6379 (each test in its own key space)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from oneflow_ai.gateway.shared_breakers import SharedBreakers
from oneflow_ai.routing import BreakerPolicy, BreakerState, admit, record
from oneflow_ai.routing.breaker import CLOSED, Breaker

REDIS_URL = "redis://127.0.0.1:6379/0"
POLICY = BreakerPolicy(min_requests=2, cooldown_s=0.3)


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., SharedBreakers]]:
    prefix = f"oneflow-test:breakers:{uuid.uuid4().hex}"
    made: list[tuple[SharedBreakers, Redis]] = []

    def factory(url: str = REDIS_URL, **kw: float) -> SharedBreakers:
        redis = Redis.from_url(url)
        store = SharedBreakers(redis, prefix=prefix, **kw)
        made.append((store, redis))
        return store

    yield factory
    for store, redis in made:
        await store.close()
        await redis.aclose()
    cleanup = Redis.from_url(REDIS_URL)
    await cleanup.delete(prefix)
    await cleanup.aclose()


async def until(condition: Callable[[], bool], within_s: float = 30.0) -> float:
    """Seconds until `condition()` held (the bound is for a hang, far beyond what a busy machine needs)."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > within_s:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
    return time.perf_counter() - start


async def subscribed(store: SharedBreakers, n: int, within_s: float = 30.0) -> None:
    """Until `n` subscribers listen on the store's channel."""
    redis = Redis.from_url(REDIS_URL)
    try:
        deadline = time.perf_counter() + within_s
        while (await redis.pubsub_numsub(store._key))[0][1] < n:
            assert time.perf_counter() < deadline, "the breakers did not subscribe in time"
            await asyncio.sleep(0.005)
    finally:
        await redis.aclose()


async def test_an_open_on_one_process_is_seen_by_the_other(make: Callable[..., SharedBreakers]) -> None:
    a, b = make(resync_s=3600), make(resync_s=3600)  # past their first read of the hash, they hear by pub/sub alone
    await a.start()
    await b.start()
    await subscribed(a, 2)
    for _ in range(2):
        record(a, "gpt/0", False, POLICY, time.monotonic())
    assert a.get("gpt/0").state is BreakerState.OPEN
    await until(lambda: b.get("gpt/0").state is BreakerState.OPEN)  # how fast: a benchmark's question
    assert abs((b.get("gpt/0").opened_at or 0) - (a.get("gpt/0").opened_at or 0)) < 0.05
    assert not admit(b, "gpt/0", POLICY, time.monotonic())  # b refuses without having seen a failure

    await asyncio.sleep(POLICY.cooldown_s + 0.05)  # the cooldown passes (part of the scenario)
    assert admit(a, "gpt/0", POLICY, time.monotonic())  # a takes the probe...
    await until(lambda: b.get("gpt/0").state is BreakerState.HALF_OPEN)
    assert not admit(b, "gpt/0", POLICY, time.monotonic())  # ...so b sends none
    record(a, "gpt/0", True, POLICY, time.monotonic())
    await until(lambda: b.get("gpt/0") is CLOSED)


async def test_counting_is_local_and_not_published(make: Callable[..., SharedBreakers]) -> None:
    a = make()
    await a.start()
    record(a, "gpt/0", False, POLICY, time.monotonic())
    record(a, "gpt/0", True, POLICY, time.monotonic())
    await asyncio.sleep(0.05)
    assert a.published == 0


async def test_a_late_starter_catches_up_from_the_hash(make: Callable[..., SharedBreakers]) -> None:
    a = make()
    await a.start()
    a.put("gpt/1", Breaker(BreakerState.OPEN, opened_at=time.monotonic()))
    await until(lambda: a.published == 1)
    late = make()
    await late.start()
    await until(lambda: late.get("gpt/1").state is BreakerState.OPEN)


async def test_without_redis_the_local_board_still_works(make: Callable[..., SharedBreakers]) -> None:
    down = make("redis://127.0.0.1:1/0")
    await down.start()
    for _ in range(2):
        record(down, "gpt/0", False, POLICY, time.monotonic())
    assert down.get("gpt/0").state is BreakerState.OPEN
    await asyncio.sleep(0.05)
    assert down.published == 0
