"""`RedisBatches` against a real Redis: writes behind wait to share a round trip, calls someone waits on go at once
and carry the writes queued before them, and shutdown sends everything."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from redis.asyncio import Redis

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
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.trips = 0

    async def execute(self, commands: Any) -> list[Any]:
        self.trips += 1
        return await super().execute(commands)


async def test_writes_behind_share_one_round_trip_after_behind_s_and_ride_with_a_waited_call() -> None:
    key = f"oneflow:test:{uuid.uuid4().hex}"
    client = Counting(REDIS_URL)
    batches = RedisBatches(client, behind_s=0.2)
    answers: list[Any] = []
    for _ in range(50):
        batches.post(INCR, [key], ["1"], 1, answers.append)
    await asyncio.sleep(0.05)
    assert client.trips == 0  # 50 writes behind: none sent before `behind_s`
    for _ in range(100):  # after `behind_s` (a busy machine may take longer)
        if answers:
            break
        await asyncio.sleep(0.05)
    assert client.trips <= 2 and answers[-1] == [50]  # (a first script load is a round trip of its own)
    trips = client.trips
    for _ in range(10):
        batches.post(INCR, [key], ["1"], 1, answers.append)
    assert await batches.call(INCR, [key], ["100"], 1) == [160]  # carried the ten queued before it
    assert client.trips == trips + 1
    for _ in range(5):
        batches.post(INCR, [key], ["1"], 1)
    await batches.close()  # shutdown sends what is queued
    redis = Redis.from_url(REDIS_URL)
    assert int(await redis.get(key) or 0) == 165
    await redis.delete(key)
    await redis.aclose()


async def test_a_stream_of_writes_behind_goes_out_once_per_behind_s_not_once_per_answer() -> None:
    key = f"oneflow:test:{uuid.uuid4().hex}"
    client = Counting(REDIS_URL)
    batches = RedisBatches(client, behind_s=0.05)
    await batches.call(INCR, [key], ["0"], 1)  # the script is loaded
    trips = client.trips
    began = time.perf_counter()
    for _ in range(200):  # ~0.2 s of writes, one every millisecond
        batches.post(INCR, [key], ["1"], 1)
        await asyncio.sleep(0.001)
    await batches.drain()
    elapsed = time.perf_counter() - began
    redis = Redis.from_url(REDIS_URL)
    assert int(await redis.get(key) or 0) == 200
    await redis.delete(key)
    await redis.aclose()
    await batches.close()
    assert client.trips - trips <= elapsed / 0.05 + 2  # one per `behind_s` (not one per write), and the drain


async def test_a_script_redis_does_not_know_yet_is_loaded_and_sent_again_alone() -> None:
    """A round trip where one script ran and another was unknown to Redis (first use, or Redis restarted): only
    the unknown one is sent again; the other must not run twice (a settlement charged twice, a hold held twice)."""
    key = f"oneflow:test:{uuid.uuid4().hex}"
    fresh = BatchScript(f"-- {uuid.uuid4().hex}\nreturn {{redis.call('INCRBY', KEYS[1], ARGS[1])}}")
    client = Counting(REDIS_URL)
    batches = RedisBatches(client)
    await batches.call(INCR, [key], ["0"], 1)  # INCR is known to Redis from here on
    first = batches.submit(INCR, [key], ["1"], 1)
    second = batches.submit(fresh, [key], ["10"], 1)
    assert await first == [1] and await second == [11]
    redis = Redis.from_url(REDIS_URL)
    assert int(await redis.get(key) or 0) == 11
    await redis.delete(key)
    await redis.aclose()
    await batches.close()
