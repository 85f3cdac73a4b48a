"""Two gateway instances sharing Redis see one breaker state: one opens it, the other stops sending too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.routing_e2e.conftest import deployment, routing
from tests.routing_e2e.load import AUTH, HI, Watch, is_closed, is_open
from tests.routing_e2e.upstreams import Upstream

REDIS_URL = "redis://127.0.0.1:6379/0"
SHARED_HASH = "oneflow:breakers"
COOLDOWN_S = 5
"""Long enough for two to be asked ten times while the breaker is open, on a busy machine too."""


async def test_two_gateways_share_one_breaker(
    start_gateway: Any, upstreams: Callable[[], Upstream], tmp_path: Path
) -> None:
    sick, healthy = upstreams(), upstreams()
    name = f"shared-{uuid.uuid4().hex[:8]}"  # this test's own deployment ids in the shared hash
    config = f"""{routing(breaker=f"{{min_requests: 3, window_s: 60, cooldown_s: {COOLDOWN_S}}}")}models:
  - name: {name}
    fallbacks: [{name}-backup]
    deployments:
      - {deployment(sick, "fake-error-500")}
  - name: {name}-backup
    deployments:
      - {deployment(healthy, "backup")}
"""
    one, two = (
        start_gateway(config_yaml=config, redis_url=REDIS_URL, database_url=f"sqlite:///{tmp_path}/{i}.db")
        for i in (1, 2)
    )
    watch_one, watch_two = Watch(one.url, f"{name}/0", 0.005).start(), Watch(two.url, f"{name}/0", 0.005).start()
    try:
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(headers=AUTH, timeout=10) as client:

            async def ask(gw: Any) -> httpx.Response:
                r = await client.post(gw.url + "/v1/chat/completions", json={"model": name, "messages": HI})
                assert r.status_code == 200, r.text
                return r

            for _ in range(3):
                assert (await ask(one)).headers["x-oneflow-model"] == "backup"
            assert len(sick.fake.received) == 3
            opened_one = await watch_one.until(is_open)
            opened_two = await watch_two.until(is_open, within_s=30)  # how fast is printed: a benchmark's question
            print(f"open on one -> seen open on two after {(opened_two - opened_one) * 1000:.0f} ms (5 ms sampling)")
            for _ in range(10):  # two never saw a failure, yet sends nothing to the open deployment
                r = await ask(two)
                assert (r.headers["x-oneflow-model"], r.headers["x-oneflow-attempts"]) == ("backup", "1")
            assert len(sick.fake.received) == 3

            sick.fake.healed = True
            await asyncio.sleep(opened_one + COOLDOWN_S + 0.1 - watch_one.now())  # the cool-down passes
            mended = watch_one.now()
            assert (await ask(two)).headers["x-oneflow-model"] == "fake-error-500"  # two's probe closes it...
            closed_one = await watch_one.until(is_closed, after=mended, within_s=30)  # ...for one as well
            print(f"closed by two -> seen closed on one after {(closed_one - mended) * 1000:.0f} ms")
            assert len(sick.fake.received) == 4
            assert (await ask(one)).headers["x-oneflow-model"] == "fake-error-500"
            health = await client.get(one.url + "/api/v1/admin/routing/health")
            assert health.json()["shared"] is True
    finally:
        await watch_one.stop()
        await watch_two.stop()
        shared = redis.Redis.from_url(REDIS_URL)
        shared.hdel(SHARED_HASH, f"{name}/0", f"{name}-backup/0")
        shared.close()
