"""`model: "auto"` and the routing API over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from oneflow_ai.pricing import PricingEngine
from tests.fakes.openai_upstream import COMPLETION_TOKENS, PROMPT_TOKENS
from tests.routing_e2e.conftest import deployment, routing
from tests.routing_e2e.load import AUTH, HI
from tests.routing_e2e.upstreams import Upstream

PRICING = PricingEngine()


@pytest.fixture
def setup(start_gateway: Any, upstreams: Callable[[], Upstream]) -> tuple[str, Upstream, Upstream]:
    cheap, smart = upstreams(), upstreams()
    config = f"""{routing()}models:
  - name: cheap
    deployments:
      - {deployment(cheap, "gpt-4o-mini")}
  - name: smart
    deployments:
      - {deployment(smart, "gpt-4o")}
"""
    return start_gateway(config_yaml=config).url, cheap, smart


def post(url: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + path, json=body, headers=AUTH if headers is None else headers, timeout=10)


def test_auto_picks_by_strategy_and_the_gateway_fields_stay_home(setup: tuple[str, Upstream, Upstream]) -> None:
    url, cheap, smart = setup
    r = post(url, "/v1/chat/completions", {"model": "auto", "messages": HI, "strategy": "cost_optimized"})
    assert r.status_code == 200 and r.headers["x-oneflow-model"] == "gpt-4o-mini"
    r = post(
        url,
        "/v1/chat/completions",
        {"model": "auto", "messages": HI},
        {**AUTH, "x-oneflow-strategy": "quality_optimized"},
    )
    assert r.status_code == 200 and r.headers["x-oneflow-model"] == "gpt-4o"
    for sent in cheap.fake.received + smart.fake.received:
        assert "strategy" not in sent["body"] and "fallbacks" not in sent["body"]
        assert sent["body"]["model"] in ("gpt-4o-mini", "gpt-4o")


def test_auto_falls_back_to_the_runner_up(setup: tuple[str, Upstream, Upstream]) -> None:
    url, cheap, _ = setup
    cheap.kill()
    r = post(url, "/v1/chat/completions", {"model": "auto", "messages": HI, "strategy": "cost_optimized"})
    assert r.status_code == 200, r.text
    assert (r.headers["x-oneflow-model"], r.headers["x-oneflow-attempts"]) == ("gpt-4o", "2")


def test_route_and_estimate_without_a_model(setup: tuple[str, Upstream, Upstream]) -> None:
    url, _, _ = setup
    body = {"input_tokens": 1500, "output_tokens": 500, "strategy": "cost_optimized", "modality": "text"}
    expected = PRICING.estimate("gpt-4o-mini", 1500, 500)
    for path in ("/api/v1/route", "/api/v1/estimate"):
        d = post(url, path, body).json()
        assert d["primary_model"] == "cheap" and d["fallback_chain"] == ["smart"], d
        assert Decimal(d["estimated_cost_usd"]) == expected.usd
        assert Decimal(d["estimated_credits"]) == expected.credits
        assert d["strategy"] == "cost_optimized" and d["reason"].startswith("cheapest of 2 text models")
    catalog = post(url, "/api/v1/route", {**body, "scope": "catalog"}).json()
    assert catalog["primary_model"] not in ("cheap", "smart") and len(catalog["fallback_chain"]) == 3
    assert post(url, "/api/v1/route", {**body, "input_tokens": 10**6}).json()["error"]["code"] == "no_model_fits"
    assert post(url, "/api/v1/route", {**body, "strategy": "fastest"}).status_code == 400
    assert post(url, "/api/v1/route", {**body, "modality": "smell"}).json()["error"]["param"] == "modality"
    assert post(url, "/api/v1/estimate", {**body, "strategy": "fastest"}).json()["error"]["param"] == "strategy"
    assert post(url, "/api/v1/route", body, headers={}).status_code == 401


def test_request_routes_executes_and_prices(setup: tuple[str, Upstream, Upstream]) -> None:
    url, cheap, _ = setup
    r = post(url, "/api/v1/request", {"prompt": "Say hi", "strategy": "cost_optimized", "max_tokens": 50})
    assert r.status_code == 200, r.text
    d = r.json()
    cost = PRICING.cost("gpt-4o-mini", PROMPT_TOKENS, COMPLETION_TOKENS, 3)
    assert d == {
        "text": "Hello from the fake upstream.",
        "model": "gpt-4o-mini",
        "provider": "openai_compatible",
        "input_tokens": PROMPT_TOKENS,
        "output_tokens": COMPLETION_TOKENS,
        "cost_usd": format(cost.usd.normalize(), "f"),
        "credits": format(cost.credits.normalize(), "f"),
        "attempts": 1,
    }
    assert r.headers["x-oneflow-model"] == "gpt-4o-mini"
    [sent] = cheap.fake.received
    assert sent["body"]["messages"] == [{"role": "user", "content": "Say hi"}] and sent["body"]["max_tokens"] == 50
    assert post(url, "/api/v1/request", {"prompt": "draw", "modality": "image"}).json()["error"]["param"] == "modality"
    assert post(url, "/api/v1/request", {"prompt": ""}).status_code == 400


def test_routing_health_is_for_admins(setup: tuple[str, Upstream, Upstream]) -> None:
    url, _, _ = setup
    post(url, "/v1/chat/completions", {"model": "cheap", "messages": HI})
    assert httpx.get(url + "/api/v1/admin/routing/health").status_code == 401
    health = httpx.get(url + "/api/v1/admin/routing/health", headers=AUTH).json()
    assert health["shared"] is False
    [entry] = [d for d in health["deployments"] if d["id"] == "cheap/0"]
    assert entry["state"] == "closed" and entry["samples"] == 1 and entry["in_flight"] == 0
    assert entry["ewma_latency_ms"] > 0 and entry["error_rate"] == 0 and entry["window"]["ok"] == 1


def test_auto_with_a_key_restricted_to_some_models(setup: tuple[str, Upstream, Upstream]) -> None:
    url, cheap, _ = setup
    created = post(url, "/api/v1/admin/api-keys", {"name": "only-smart", "allowed_models": ["smart"]})
    assert created.status_code == 201, created.text
    key = {"authorization": f"Bearer {created.json()['key']}"}
    r = post(url, "/v1/chat/completions", {"model": "auto", "messages": HI, "strategy": "cost_optimized"}, key)
    assert r.status_code == 200, r.text
    assert r.headers["x-oneflow-model"] == "gpt-4o"  # the cheaper `cheap` is not this key's to use
    d = post(url, "/api/v1/route", {"input_tokens": 10, "strategy": "cost_optimized"}, key).json()
    assert d["primary_model"] == "smart" and d["fallback_chain"] == []
    assert cheap.fake.received == []
