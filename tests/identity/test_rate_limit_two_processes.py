"""Two `oneflow serve` processes sharing Redis enforce one global per-minute request limit on a virtual key."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.subprocess_gateway import Served, SubprocessGateways
from tests.identity.conftest import CHAT, REDIS_URL, Client, bearer, identity_env

LIMIT, TOTAL, CONNECTIONS_PER_GATEWAY = 500, 1200, 64


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[SubprocessGateways]:
    started = SubprocessGateways(tmp_path)
    yield started
    started.stop_all()


async def burst(urls: list[str], key: str) -> tuple[dict[int, int], float]:
    """`TOTAL` chat calls split evenly over `urls`, all in flight at once; ({status: count}, seconds)."""
    counts: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=CONNECTIONS_PER_GATEWAY * len(urls), limit_per_host=CONNECTIONS_PER_GATEWAY)
    async with aiohttp.ClientSession(connector=connector, headers=bearer(key)) as http:

        async def call(url: str) -> None:
            async with http.post(url + "/v1/chat/completions", json=CHAT) as r:
                await r.read()
                counts[r.status] = counts.get(r.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(call(urls[i % len(urls)]) for i in range(TOTAL)))
        return counts, time.perf_counter() - started


def test_two_gateway_processes_sharing_redis_enforce_one_global_rpm_limit(
    gateways: SubprocessGateways, postgres_url: str, redis_leftovers: Callable[[str], None]
) -> None:
    env = identity_env(DATABASE_URL=postgres_url, REDIS_URL=REDIS_URL, ONEFLOW_LOG_LEVEL="WARNING")
    a: Served = gateways.start(env=env)
    b: Served = gateways.start(env=env)
    # A fresh key: its buckets in Redis are this test's own, deleted after it (never a flush: Redis is shared).
    key: dict[str, Any] = Client(a.url).new_key(rpm_limit=LIMIT, rph_limit=1_000_000, tpm_limit=100_000_000)
    redis_leftovers(f"oneflow:rl:*{key['id']}*")

    counts, elapsed = asyncio.run(burst([a.url, b.url], key["key"]))
    accepted, refused = counts.get(200, 0), counts.get(429, 0)
    refill = LIMIT * elapsed / 60
    print(
        f"\naccepted {accepted}, refused {refused} of {TOTAL} over two processes in {elapsed:.2f}s "
        f"(limit {LIMIT}/min, token-bucket refill during the burst {refill:.1f})"
    )
    assert set(counts) <= {200, 429} and accepted + refused == TOTAL, counts
    # The limit is a token bucket of LIMIT tokens refilled at LIMIT/60 per second, shared through Redis: a burst
    # lasting `elapsed` seconds may be granted the LIMIT tokens plus what refilled meanwhile, never more. That is
    # the bound that always holds, however slow this machine makes the burst.
    assert LIMIT - 1 <= accepted <= LIMIT + math.ceil(refill) + 1
    # The acceptance criterion, "within 2% of the limit", is only promised by the bucket for a burst shorter than
    # 1.2 s (refill < 2% of LIMIT); on a loaded machine the burst can take longer, and then the bound above applies.
    if elapsed < 1.2:
        assert abs(accepted - LIMIT) <= 0.02 * LIMIT
