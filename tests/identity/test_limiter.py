"""The bucket stores: the Redis Lua script runs the pure core's arithmetic, and Redis being down fails as told."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from oneflow_ai.errors import GatewayError
from oneflow_ai.gateway.stages import Ready
from oneflow_ai.identity.buckets import Bucket, Rate, adjust, take_all
from oneflow_ai.identity.limiter import Charge, LocalLimiter, RedisLimiter
from oneflow_ai.store.redis_batches import RedisBatches
from oneflow_ai.store.resp import RespClient
from oneflow_ai.store.room_view import RoomView
from tests.identity.conftest import DEAD_REDIS_URL, REDIS_URL

steps = st.lists(
    st.tuples(st.floats(0, 5, allow_nan=False), st.sampled_from(["take", "adjust"]), st.integers(-50, 50)),
    min_size=1,
    max_size=25,
)
rates = st.lists(
    st.builds(Rate, capacity=st.integers(1, 100), period_s=st.sampled_from([1.0, 60.0])), min_size=1, max_size=3
)


@settings(max_examples=40, deadline=None)
@given(rates, steps)
def test_the_lua_script_agrees_with_the_pure_core(rates: list[Rate], steps: list[tuple[float, str, int]]) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(REDIS_URL)
        limiter = RedisLimiter(RedisBatches(RespClient(REDIS_URL)), LocalLimiter(), "closed")
        prefix = f"oneflow:test:{uuid.uuid4().hex}:"
        keys = [f"{prefix}{i}" for i in range(len(rates))]
        model: list[Bucket | None] = [None] * len(rates)
        now = 1_000.0
        try:
            for gap, mode, amount in steps:
                now += gap
                if mode == "take":
                    cost = abs(amount)
                    charges = [Charge(k, r, cost) for k, r in zip(keys, rates, strict=True)]
                    got = await limiter.take(charges, now=now)
                    model, want = take_all([(b, r, cost) for b, r in zip(model, rates, strict=True)], now)
                    assert [(v.allowed, v.remaining) for v in got] == [(v.allowed, v.remaining) for v in want]
                    for g, w in zip(got, want, strict=True):
                        assert math.isclose(g.retry_after_s, w.retry_after_s, abs_tol=1e-6)
                        assert math.isclose(g.reset_s, w.reset_s, abs_tol=1e-6)
                else:
                    limiter.adjust([Charge(k, r, amount) for k, r in zip(keys, rates, strict=True)], now=now)
                    model = [adjust(b, r, amount, now) for b, r in zip(model, rates, strict=True)]
        finally:
            await limiter.drain()
            await redis.delete(*keys)
            await redis.aclose()

    asyncio.run(scenario())


async def test_redis_down_fails_open_onto_this_replicas_own_buckets() -> None:
    limiter = RedisLimiter(RedisBatches(RespClient(DEAD_REDIS_URL)), LocalLimiter(), "open")
    charge = [Charge("k", Rate(2, 60), 1)]
    verdicts = [(await limiter.take(charge))[0].allowed for _ in range(3)]
    assert verdicts == [True, True, False]  # the limit still holds, per replica


async def test_redis_down_fails_closed_with_503() -> None:
    limiter = RedisLimiter(RedisBatches(RespClient(DEAD_REDIS_URL)), LocalLimiter(), "closed")
    with pytest.raises(GatewayError) as e:
        await limiter.take([Charge("k", Rate(2, 60), 1)])
    assert e.value.status == 503 and e.value.code == "rate_limiter_unavailable"


async def test_concurrent_calls_share_round_trips_and_each_stays_all_or_nothing(redis_prefix: str) -> None:
    """64 calls at once against a bucket of 10: exactly 10 admitted, in fewer round trips than calls."""
    client = RespClient(REDIS_URL)
    sent: list[int] = []
    execute = client.execute

    async def counting(commands: Any) -> list[Any]:
        sent.append(len(commands))
        return await execute(commands)

    client.execute = counting  # type: ignore[method-assign]
    limiter = RedisLimiter(RedisBatches(client), LocalLimiter(), "closed")
    key = redis_prefix + "bucket"
    rate = Rate(10, 60)
    verdicts = await asyncio.gather(
        *(limiter.take([Charge(key, rate, 1), Charge(key + ":b", rate, 1)]) for _ in range(64))
    )
    assert sum(v[0].allowed for v in verdicts) == 10
    assert all(v[0].allowed == v[1].allowed for v in verdicts)  # both buckets of a call, or neither
    assert 1 <= len(sent) < 10  # all 64 are queued before the first round trip goes (a script load adds two)
    await limiter.drain()


async def test_the_local_store_forgets_full_buckets_when_it_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("oneflow_ai.identity.limiter.SWEEP_AT", 10)
    clock = [0.0]
    local = LocalLimiter(clock=lambda: clock[0])
    for i in range(11):
        await local.take([Charge(f"oneflow:rl:eu:{i}:r:5:60", Rate(5, 60), 1)])
    clock[0] = 1000.0  # everything has refilled
    await local.take([Charge("oneflow:rl:eu:x:r:5:60", Rate(5, 60), 1)])
    assert len(local._buckets) < 12


@settings(max_examples=80, deadline=None)
@given(rates, steps)
def test_the_local_store_agrees_with_the_pure_core(rates: list[Rate], steps: list[tuple[float, str, int]]) -> None:
    clock = [1_000.0]
    local = LocalLimiter(clock=lambda: clock[0])
    keys = [f"k{i}" for i in range(len(rates))]
    model: list[Bucket | None] = [None] * len(rates)

    async def scenario() -> None:
        nonlocal model
        for gap, mode, amount in steps:
            clock[0] += gap
            if mode == "take":
                cost = abs(amount)
                got = await local.take([Charge(k, r, cost) for k, r in zip(keys, rates, strict=True)])
                model, want = take_all([(b, r, cost) for b, r in zip(model, rates, strict=True)], clock[0])
                assert got == want
            else:
                local.adjust([Charge(k, r, amount) for k, r in zip(keys, rates, strict=True)])
                model = [adjust(b, r, amount, clock[0]) for b, r in zip(model, rates, strict=True)]

    asyncio.run(scenario())


async def test_with_a_view_busy_keys_far_from_their_limits_do_not_wait_and_redis_counts_every_charge(
    redis_prefix: str,
) -> None:
    """Two replicas with views, 12,000 calls on a bucket of 10,000: Redis still decides the limit (exactly 10,000
    admitted), most calls are decided without a round trip, and Redis's bucket holds every charge once."""
    key = redis_prefix + "bucket"
    rate = Rate(10_000, 1e9)  # no refill to speak of during the test
    replicas = [
        RedisLimiter(RedisBatches(RespClient(REDIS_URL)), LocalLimiter(), "closed", view=frozen_view()) for _ in "ab"
    ]
    decided_here = 0

    async def call(limiter: RedisLimiter) -> bool:
        nonlocal decided_here
        pending = limiter.take([Charge(key, rate, 1)])
        decided_here += isinstance(pending, Ready)
        return (await pending)[0].allowed

    admitted = 0
    for _ in range(6_000 // 64):
        wave = await asyncio.gather(*(call(r) for r in replicas for _ in range(64)))
        admitted += sum(wave)
    for limiter in replicas:
        await limiter.drain()
    level = await level_of(key)
    assert admitted == 10_000
    assert level == pytest.approx(0, abs=0.01)  # every admitted call charged once in Redis, refused ones not at all
    assert decided_here > 5_000  # of the 7,500 calls above a quarter of the bucket, after the first answers


async def test_with_a_view_refunds_and_corrections_reach_redis_and_the_view(redis_prefix: str) -> None:
    key = redis_prefix + "bucket"
    rate = Rate(100_000, 1e9)
    limiter = RedisLimiter(RedisBatches(RespClient(REDIS_URL)), LocalLimiter(), "closed", view=frozen_view())
    await limiter.take([Charge(key, rate, 50)])  # asks Redis: the view knows nothing yet
    second = limiter.take([Charge(key, rate, 50)])
    assert isinstance(second, Ready) and (await second)[0].remaining == 99_900
    limiter.adjust([Charge(key, rate, -30)])  # the call used fewer tokens than it reserved
    third = limiter.take([Charge(key, rate, 10)])
    assert isinstance(third, Ready) and (await third)[0].remaining == 99_920
    await limiter.drain()
    assert await level_of(key) == pytest.approx(99_920, abs=0.01)


def frozen_view() -> RoomView:
    """A view whose answers never age: what it admits depends on Redis's answers, not on how fast this machine is
    (the buckets here barely refill, so a clock that stands still changes nothing else)."""
    return RoomView(5.0, clock=lambda: 1_000.0)


async def level_of(key: str) -> float:
    redis = Redis.from_url(REDIS_URL)
    try:
        return float((await redis.hget(key, "l")) or 0)
    finally:
        await redis.aclose()


class Recording(RespClient):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.commands: list[list[Any]] = []

    async def execute(self, commands: Any) -> list[Any]:
        self.commands += commands
        return await super().execute(commands)


async def test_with_a_view_charges_written_behind_go_as_one_sum_per_bucket_per_round_trip(redis_prefix: str) -> None:
    """500 calls admitted on the view and their corrections, on two buckets, within one `behind_s`: one call of
    the script carries one charge per bucket (their sums), and Redis and the view end up where 500 calls leave
    them."""
    rpm, tpm = redis_prefix + "rpm", redis_prefix + "tpm"
    requests, tokens = Rate(10_000, 1e9), Rate(1_000_000, 1e9)
    client = Recording(REDIS_URL)
    limiter = RedisLimiter(RedisBatches(client, behind_s=3600), LocalLimiter(), "closed", view=frozen_view())
    await limiter.take([Charge(rpm, requests, 1), Charge(tpm, tokens, 100)])  # asks Redis: the view knows nothing
    client.commands.clear()
    for _ in range(500):
        pending = limiter.take([Charge(rpm, requests, 1), Charge(tpm, tokens, 100)])
        assert isinstance(pending, Ready)
        limiter.adjust([Charge(tpm, tokens, -40)])  # each call used 60 tokens, not the 100 it reserved
    assert client.commands == []  # nothing sent before the round trip (`behind_s` away, or drained; nothing
    # above yields to the loop, so this holds however slow the machine)
    await limiter.drain()
    calls = [c for c in client.commands if c[0] == "EVALSHA"]
    assert len(calls) == 1
    args = orjson.loads(calls[0][-1])
    assert args[:3] == ["adjust", "", "2"] and calls[0][3:5] == [rpm, tpm]
    assert (args[5], args[8]) == ("500", str(500 * 60))  # the sums: 500 requests, 500 x 60 tokens
    levels = [await level_of(k) for k in (rpm, tpm)]
    assert levels == [pytest.approx(10_000 - 501, abs=0.01), pytest.approx(1_000_000 - 100 - 30_000, abs=0.01)]
    after = limiter.take([Charge(rpm, requests, 1), Charge(tpm, tokens, 100)])  # the view, refreshed by the answer
    assert isinstance(after, Ready)
    assert [v.remaining for v in await after] == [10_000 - 502, 1_000_000 - 30_200]
