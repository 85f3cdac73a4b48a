"""Fallbacks over real HTTP: a context overflow goes to the larger model, a plain 400 comes back untried
elsewhere, the response headers name who served, and the gateway's own fields never reach an upstream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.routing_e2e.conftest import deployment, routing
from tests.routing_e2e.load import AUTH, HI
from tests.routing_e2e.upstreams import Upstream


@pytest.fixture
def setup(start_gateway: Any, upstreams: Callable[[], Upstream]) -> tuple[str, Upstream, Upstream]:
    small, large = upstreams(), upstreams()
    breaker = "{failure_rate_threshold: 0.5, min_requests: 5, window_s: 30, cooldown_s: 60}"
    config = f"""{routing(max_attempts=4, breaker=breaker)}models:
  - name: small
    fallbacks: [large]
    deployments:
      - {deployment(small, "fake-context", context_window=8192)}
  - name: large
    deployments:
      - {deployment(large, "big-model", context_window=200000)}
  - name: picky
    fallbacks: [large]
    deployments:
      - {deployment(small, "fake-400")}
      - {deployment(large, "picky-backup")}
  - name: broken
    fallbacks: [large]
    deployments:
      - {deployment(small, "fake-error-500")}
  - name: tiny
    deployments:
      - {deployment(small, "fake-context")}
"""
    return start_gateway(config_yaml=config).url, small, large


def chat(url: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions", json={"messages": HI, **body}, headers={**AUTH, **headers}, timeout=10
    )


def test_a_context_overflow_falls_back_to_the_larger_model(setup: tuple[str, Upstream, Upstream]) -> None:
    url, small, large = setup
    r = chat(url, {"model": "small"})
    assert r.status_code == 200, r.text
    assert r.headers["x-oneflow-model"] == "big-model"
    assert r.headers["x-oneflow-provider"] == "openai_compatible"
    assert r.headers["x-oneflow-attempts"] == "2"
    assert small.fake.models() == ["fake-context"] and large.fake.models() == ["big-model"]


def test_a_context_overflow_without_a_fallback_is_the_clients_400(setup: tuple[str, Upstream, Upstream]) -> None:
    url, small, _ = setup
    r = chat(url, {"model": "tiny"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    assert small.fake.models() == ["fake-context"]


def test_a_plain_400_is_returned_and_not_retried(setup: tuple[str, Upstream, Upstream]) -> None:
    url, small, large = setup
    for _ in range(8):  # a caller's 400 never opens the deployment's breaker either
        r = chat(url, {"model": "picky"}, **{"x-oneflow-strategy": "round_robin"})
        if small.fake.received:
            break
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_value" and r.json()["error"]["param"] == "temperature"
    assert small.fake.models() == ["fake-400"]  # exactly one upstream request for it
    assert "picky-backup" not in large.fake.models()[-1:]


def test_per_request_fallbacks_and_strategy_are_the_gateways_own(setup: tuple[str, Upstream, Upstream]) -> None:
    url, small, large = setup
    r = chat(url, {"model": "tiny", "fallbacks": ["large"], "strategy": "cost_optimized", "seed": 7})
    assert r.status_code == 200, r.text
    assert (r.headers["x-oneflow-model"], r.headers["x-oneflow-attempts"]) == ("big-model", "2")
    r = chat(url, {"model": "tiny", "fallbacks": ["large"]}, **{"x-oneflow-strategy": "quality_optimized"})
    assert r.status_code == 200
    for sent in small.fake.received + large.fake.received:
        assert "fallbacks" not in sent["body"] and "strategy" not in sent["body"]
        assert not any(h.lower() == "x-oneflow-strategy" for h in sent["headers"])
    assert large.fake.received[0]["body"]["seed"] == 7
    assert chat(url, {"model": "tiny", "fallbacks": "large"}).status_code == 400
    assert chat(url, {"model": "tiny", "strategy": "fastest"}).json()["error"]["param"] == "strategy"


def test_the_breaker_opens_after_the_configured_failures(setup: tuple[str, Upstream, Upstream]) -> None:
    url, small, _ = setup
    for i in range(12):
        r = chat(url, {"model": "broken"})
        assert r.status_code == 200 and r.headers["x-oneflow-model"] == "big-model"
        assert r.headers["x-oneflow-attempts"] == ("2" if i < 5 else "1")
    assert small.fake.models() == ["fake-error-500"] * 5  # min_requests: 5, then no more traffic to it
    health = httpx.get(url + "/api/v1/admin/routing/health", headers=AUTH).json()
    [entry] = [d for d in health["deployments"] if d["id"] == "broken/0"]
    assert entry["state"] == "open" and entry["opened_at"] and 0 <= entry["open_for_s"] < 30  # open for 60 s
    assert entry["samples"] == 5 and entry["error_rate"] > 0.5 and entry["in_flight"] == 0
