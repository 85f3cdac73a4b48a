"""Probe: what one Redis round trip of the hot path costs in CPU, per client. `python -m bench.probes.redis_clients`

One round trip = two EVALSHA commands sent together and both replies read (what `RedisBatches` sends for a
request that charges rate limits and reserves a budget), one at a time, pinned to one core. Clients: redis-py's
pipeline (what the gateway used first), redis-py's connection API (pack, send, read), and `RespClient` (asyncio
protocol + hiredis). Needs Redis at `$PROBE_REDIS_URL` (default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

import uvloop
from redis.asyncio import Redis

from oneflow_ai.store.resp import RespClient

URL = os.environ.get("PROBE_REDIS_URL", "redis://127.0.0.1:6379/0")
LUA = "return {1, ARGV[1]}"
ROUNDS = 3000


async def timed(name: str, round_trip: Callable[[], Awaitable[object]]) -> None:
    for _ in range(200):
        await round_trip()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(ROUNDS):
        await round_trip()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"| {name} | {cpu / ROUNDS * 1e6:.0f} | {wall / ROUNDS * 1e6:.0f} |")


async def main() -> None:
    redis = Redis.from_url(URL)
    sha = await redis.script_load(LUA)

    async def pipeline() -> object:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.evalsha(sha, 1, "k", "x")
            pipe.evalsha(sha, 1, "k", "y")
            return await pipe.execute()

    connection = await redis.connection_pool.get_connection()

    async def low_level() -> object:
        packed = connection.pack_commands([("EVALSHA", sha, 1, "k", "x"), ("EVALSHA", sha, 1, "k", "y")])
        await connection.send_packed_command(packed, check_health=False)
        return (await connection.read_response(), await connection.read_response())

    resp = RespClient(URL)

    async def lean() -> object:
        return await resp.execute([["EVALSHA", sha, 1, "k", "x"], ["EVALSHA", sha, 1, "k", "y"]])

    print("| client | CPU us per round trip | wall us per round trip |")
    print("|---|---:|---:|")
    await timed("redis-py pipeline", pipeline)
    await timed("redis-py connection API", low_level)
    await timed("RespClient (asyncio protocol + hiredis)", lean)
    await redis.connection_pool.release(connection)
    await redis.aclose()
    await resp.close()


if __name__ == "__main__":
    os.sched_setaffinity(0, {0})
    uvloop.run(main())
