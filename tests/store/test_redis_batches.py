"""`RedisBatches` against a real Redis: writes behind wait to share a round trip, calls someone waits on go at once
and carry the writes queued before them, and shutdown sends everything.

Round trips are counted against what holds under any scheduling (a busy machine included): the timer of writes
behind is set far away when a test needs it not to fire, and waited for on its result when it must."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from oneflow_ai.store.redis_batches import BatchScript, RedisBatches
from oneflow_ai.store.resp import RespClient
from tests.identity.conftest import REDIS_URL

INCR = BatchScript(
    """
local out = {}
for i = 1, #KEYS do out[#out + 1] = redis.call('INCRBY', KEYS[i], ARGS[i]) end
return out
"""
)


class Counting(RespClient):
    """Counts round trips as they are sent (before Redis answers)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.trips = 0

    async def execute(self, commands: Any) -> list[Any]:
        self.trips += 1
        return await super().execute(commands)


@pytest.fixture
def key(redis_prefix: str) -> str:
    """A key of this test's own in the shared Redis, deleted after it even when it fails."""
    return redis_prefix + "counter"


async def loaded(key: str, behind_s: float) -> tuple[Counting, RedisBatches]:
    """Batches on a counted client, connected and with INCR loaded into Redis, so that every round trip counted
    after is one of the batching's own (a script Redis does not know costs a load and a second send)."""
    client = Counting(REDIS_URL)
    batches = RedisBatches(client, behind_s=behind_s)
    await batches.call(INCR, [key], ["0"], 1)
    return client, batches


async def until(done: Callable[[], bool], timeout_s: float = 30) -> None:
    """Wait (on this loop) until `done()`; fail after `timeout_s`, far beyond what a busy machine needs."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "the condition never came true"
        await asyncio.sleep(0.01)


async def test_writes_behind_wait_for_a_call_someone_waits_on_and_ride_with_it_in_one_round_trip(key: str) -> None:
    client, batches = await loaded(key, behind_s=3600)  # the timer never fires here: only a waited call sends
    trips = client.trips
    answers: list[Any] = []
    for _ in range(50):
        batches.post(INCR, [key], ["1"], 1, answers.append)
    for _ in range(10):
        await asyncio.sleep(0)  # whatever the posts scheduled has run (a round trip is counted as it is sent)
    assert client.trips == trips and answers == []  # none sent: they wait for `behind_s` or a waited call
    assert await batches.call(INCR, [key], ["100"], 1) == [150]  # carried the fifty queued before it
    assert client.trips == trips + 1 and answers == [[n] for n in range(1, 51)]
    await batches.close()


async def test_writes_behind_go_after_behind_s_in_one_round_trip_and_shutdown_sends_the_rest(key: str) -> None:
    client, batches = await loaded(key, behind_s=0.05)
    trips = client.trips
    answers: list[Any] = []
    for _ in range(50):
        batches.post(INCR, [key], ["1"], 1, answers.append)
    await until(lambda: len(answers) == 50)  # nobody waits on them: `behind_s` sends them
    assert client.trips == trips + 1 and answers[-1] == [50]  # all fifty in one round trip
    for _ in range(5):
        batches.post(INCR, [key], ["1"], 1)
    await batches.close()  # shutdown sends what is queued
    with redis.Redis.from_url(REDIS_URL) as check:
        assert int(check.get(key) or 0) == 55


async def test_a_stream_of_writes_behind_goes_out_once_per_behind_s_not_once_per_answer(key: str) -> None:
    client, batches = await loaded(key, behind_s=0.05)
    trips = client.trips
    loop = asyncio.get_running_loop()
    began = loop.time()  # the clock `behind_s` is timed by
    for _ in range(200):  # writes one after the other, a loop turn apart or more
        batches.post(INCR, [key], ["1"], 1)
        await asyncio.sleep(0.001)
    await batches.drain()
    elapsed = loop.time() - began
    await batches.close()
    with redis.Redis.from_url(REDIS_URL) as check:
        assert int(check.get(key) or 0) == 200
    # Each round trip of writes behind waits `behind_s` from when the one before it was done (or from the first
    # write): at most one per `behind_s` elapsed, whatever the scheduling, plus the drain (one per write: 200)
    assert client.trips - trips <= elapsed / 0.05 + 2


async def test_a_script_redis_does_not_know_yet_is_loaded_and_sent_again_alone(key: str) -> None:
    """A round trip where one script ran and another was unknown to Redis (first use, or Redis restarted): only
    the unknown one is sent again; the other must not run twice (a settlement charged twice, a hold held twice)."""
    fresh = BatchScript(f"-- {uuid.uuid4().hex}\nreturn {{redis.call('INCRBY', KEYS[1], ARGS[1])}}")
    client = Counting(REDIS_URL)
    batches = RedisBatches(client)
    await batches.call(INCR, [key], ["0"], 1)  # INCR is known to Redis from here on
    first = batches.submit(INCR, [key], ["1"], 1)
    second = batches.submit(fresh, [key], ["10"], 1)
    assert await first == [1] and await second == [11]
    await batches.close()
    with redis.Redis.from_url(REDIS_URL) as check:
        assert int(check.get(key) or 0) == 11
