"""A deployment that served well for a while, then hangs, over real HTTP with the default 30 s window: its
breaker opens after `consecutive_failures` timeouts in a row, not once the timeouts outnumber the successes
still in the window (issue 14: it opened 3.6 s after the upstream had recovered)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.routing_e2e.conftest import deployment
from tests.routing_e2e.load import AUTH, HI
from tests.routing_e2e.upstreams import Upstream


def test_a_hang_after_many_successes_opens_the_breaker_after_five_timeouts(
    start_gateway: Any, upstreams: Callable[[], Upstream]
) -> None:
    a, b = upstreams(), upstreams()
    a.fake.healed = True  # `fake-hang` answers until `healed` is cleared
    config = f"""routing:
  max_attempts: 2
  backoff_base_s: 0.01
  breaker: {{failure_rate_threshold: 0.5, min_requests: 5, window_s: 30, cooldown_s: 60}}  # consecutive_failures: 5
models:
  - name: chat
    strategy: quality_optimized
    deployments:
      - {deployment(a, "fake-hang", read_s=1.0, quality=0.9)}
      - {deployment(b, "up-b", quality=0.1)}
"""
    url = start_gateway(config_yaml=config).url

    def chat() -> httpx.Response:
        r = httpx.post(url + "/v1/chat/completions", json={"model": "chat", "messages": HI}, headers=AUTH, timeout=10)
        assert r.status_code == 200, r.text
        return r

    for _ in range(20):
        assert chat().headers["x-oneflow-model"] == "fake-hang"
    a.fake.healed = False  # from now on it never answers: each call times out there, then falls back
    served = [(r.headers["x-oneflow-model"], r.headers["x-oneflow-attempts"]) for r in (chat() for _ in range(7))]
    assert served == [("up-b", "2")] * 5 + [("up-b", "1")] * 2  # 5 timeouts among 25 outcomes open it
    health = httpx.get(url + "/api/v1/admin/routing/health", headers=AUTH).json()
    [entry] = [d for d in health["deployments"] if d["id"] == "chat/0"]
    assert entry["state"] == "open" and entry["samples"] == 25
