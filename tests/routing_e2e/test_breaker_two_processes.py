"""Two `oneflow serve` processes sharing Redis see one breaker state: failures seen by one open the breaker of
the other, which then sends nothing more to the failing deployment."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import UPSTREAM_KEY
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import AiohttpServer
from tests.fakes.subprocess_gateway import Served, SubprocessGateways
from tests.routing_e2e.load import AUTH, HI

REDIS_URL = "redis://127.0.0.1:6379/0"
SHARED_HASH = "oneflow:breakers"
"""Where `SharedBreakers` keeps every deployment's breaker (its default prefix; fields are deployment ids)."""


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[SubprocessGateways]:
    started = SubprocessGateways(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def upstream() -> Iterator[tuple[OpenAIUpstream, AiohttpServer]]:
    """This test's own fake upstream, so that `received` counts only its requests."""
    fake = OpenAIUpstream(require_key=UPSTREAM_KEY)
    server = AiohttpServer(fake.app)
    yield fake, server
    server.stop()


def breaker(gw: Served, deployment_id: str) -> dict[str, Any]:
    r = httpx.get(gw.url + "/api/v1/admin/routing/health", headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["shared"] is True, r.json()
    entries: list[dict[str, Any]] = [d for d in r.json()["deployments"] if d["id"] == deployment_id]
    assert len(entries) == 1, r.json()
    return entries[0]


def ask(gw: Served, model: str) -> httpx.Response:
    r = httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, json={"model": model, "messages": HI}, timeout=30)
    assert r.status_code == 200, r.text
    return r


def test_two_gateway_processes_sharing_redis_see_one_breaker_state(
    gateways: SubprocessGateways, upstream: tuple[OpenAIUpstream, AiohttpServer]
) -> None:
    fake, server = upstream
    name = f"pair-{uuid.uuid4().hex[:8]}"  # this test's own deployment ids in the shared hash
    sick, healthy = f"{name}/0", f"{name}/1"
    dep = f"provider: openai_compatible, base_url: '{server.url}/v1', api_key: env:UPSTREAM_KEY"
    config = f"""routing:
  max_attempts: 3
  backoff_base_s: 0.01
  breaker: {{min_requests: 3, failure_rate_threshold: 0.5, window_s: 600, cooldown_s: 600}}
models:
  - name: {name}
    deployments:
      - {{{dep}, model: fake-error-500}}
      - {{{dep}, model: gpt-4o-mini}}
"""
    env = {"REDIS_URL": REDIS_URL, "ONEFLOW_LOG_LEVEL": "WARNING"}
    a, b = gateways.start(env=env, config_yaml=config), gateways.start(env=env, config_yaml=config)

    def sick_calls() -> int:
        return sum(1 for r in fake.received if r["body"].get("model") == "fake-error-500")

    try:
        assert breaker(a, sick)["state"] == breaker(b, sick)["state"] == "closed"
        for _ in range(100):  # A's failures: each request that lands on the sick deployment is retried on the other
            ask(a, name)
            if breaker(a, sick)["state"] == "open":
                break
        else:
            raise AssertionError(f"A's breaker never opened: {breaker(a, sick)}")
        opened_on_a = time.perf_counter()
        assert sick_calls() >= 3
        assert breaker(a, healthy)["state"] == "closed"

        # B hears of it within milliseconds on a quiet machine (printed below; how fast is a benchmark's question):
        # the test waits for it, with a bound far beyond what a busy machine needs and well within the cooldown
        while (state := breaker(b, sick)["state"]) != "open":
            assert time.perf_counter() - opened_on_a < 60, f"B still sees the breaker {state} after 60 s"
            time.sleep(0.01)
        seen_ms = (time.perf_counter() - opened_on_a) * 1000
        print(f"\nopened on A after {sick_calls()} failed upstream calls; seen open on B after {seen_ms:.0f} ms")

        before = sick_calls()
        for _ in range(10):  # B never saw a failure itself, yet sends nothing to the open deployment
            r = ask(b, name)
            assert (r.headers["x-oneflow-model"], r.headers["x-oneflow-attempts"]) == ("gpt-4o-mini", "1")
        assert sick_calls() == before
    finally:
        shared = redis.Redis.from_url(REDIS_URL)
        shared.hdel(SHARED_HASH, sick, healthy)
        shared.close()
