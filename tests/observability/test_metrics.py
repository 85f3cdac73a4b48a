"""`GET /metrics` over real HTTP: HTTP, LLM, token, cost, breaker and ledger metrics, with bounded labels."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from oneflow_ai.errors import QuotaExceeded, RateLimited
from oneflow_ai.observability.llm_metrics import LLMMetrics
from tests.conftest import MASTER_KEY
from tests.fakes import openai_upstream as fake
from tests.observability.conftest import AUTH, chat, total, upstream_config


@pytest.fixture
def gateway(start_gateway: Any, openai_upstream: Any) -> str:
    _, server = openai_upstream
    return str(start_gateway(config_yaml=upstream_config(server.url)).url)


def scrape(url: str) -> str:
    r = httpx.get(url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


def test_http_metrics_use_route_templates(gateway: str) -> None:
    for _ in range(3):
        assert httpx.get(gateway + "/v1/models", headers=AUTH).status_code == 200
    assert httpx.get(gateway + "/api/v1/models/mini", headers=AUTH).status_code == 200
    assert httpx.get(gateway + f"/v1/models/{uuid.uuid4().hex}", headers=AUTH).status_code == 404
    assert httpx.get(gateway + f"/no/such/{uuid.uuid4().hex}").status_code == 404
    text = scrape(gateway)
    assert total(text, "http_requests_total", method="GET", route="/v1/models", status="200") == 3
    assert total(text, "http_requests_total", route="/api/v1/models/{model_id}", status="200") == 1
    assert total(text, "http_requests_total", route="/v1/models/{model_id}", status="404") == 1
    assert total(text, "http_requests_total", route="unmatched", status="404") == 1
    assert total(text, "http_request_duration_seconds_count", route="/v1/models") == 3
    assert "/no/such" not in text and "uuid" not in text  # raw paths never become labels


def test_llm_metrics_tokens_and_cost(gateway: str) -> None:
    assert chat(gateway, "mini", "hi").status_code == 200
    with httpx.stream(
        "POST",
        gateway + "/v1/chat/completions",
        headers=AUTH,
        json={
            "model": "mini",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ) as r:
        assert r.status_code == 200 and list(r.iter_lines())
    assert chat(gateway, "broken", "hi").status_code == 502
    text = scrape(gateway)
    assert total(text, "http_requests_total", method="POST", route="/v1/chat/completions", status="200") == 2
    assert total(text, "http_requests_total", route="unmatched") == 0
    labels = {"provider": "openai_compatible", "model": "gpt-4o-mini"}
    assert total(text, "llm_requests_total", status="ok", **labels) == 2
    assert (
        total(text, "llm_requests_total", provider="openai_compatible", model="fake-error-500", status="upstream_error")
        >= 1
    )
    assert total(text, "llm_tokens_total", type="input", **labels) == 2 * fake.PROMPT_TOKENS
    assert total(text, "llm_tokens_total", type="output", **labels) == 2 * fake.COMPLETION_TOKENS
    assert total(text, "llm_tokens_total", type="cached", **labels) == 2 * 3
    assert total(text, "oneflow_cost_credits_total", **labels) > 0
    assert total(text, "llm_request_duration_seconds_count", **labels) == 2
    assert total(text, "llm_time_to_first_token_seconds_count", **labels) == 1  # the stream's
    assert total(text, "circuit_breaker_state", deployment="mini/0") == 0
    assert total(text, "ledger_queue_depth") >= 0
    for name in ("cache_hits_total", "cache_misses_total", "rate_limit_exceeded_total", "budget_exceeded_total"):
        assert total(text, name) == 0


def test_breaker_state_is_read_at_scrape_time(gateway: str) -> None:
    for _ in range(6):
        chat(gateway, "broken", "hi")
    assert total(scrape(gateway), "circuit_breaker_state", deployment="broken/0") == 2  # open


def test_the_metrics_endpoint_needs_no_key_and_is_not_in_the_api_document(gateway: str) -> None:
    assert "/metrics" not in httpx.get(gateway + "/openapi.json").json()["paths"]
    assert httpx.get(gateway + "/metrics", headers={"authorization": "Bearer wrong"}).status_code == 200
    assert MASTER_KEY not in scrape(gateway)


class _Counter:
    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class _Metrics:
    def __init__(self) -> None:
        self.rate_limited = _Counter()
        self.budget_exceeded = _Counter()


def test_refusals_are_counted_by_kind() -> None:
    m = _Metrics()
    observer = LLMMetrics(m, {})  # type: ignore[arg-type]
    call: Any = None
    observer.rejected(call, RateLimited("slow down"))
    observer.rejected(call, QuotaExceeded("budget spent"))
    observer.rejected(call, QuotaExceeded("budget spent", code="budget_exceeded"))
    assert (m.rate_limited.value, m.budget_exceeded.value) == (1, 2)


def test_per_key_labels_only_when_switched_on(start_gateway: Any) -> None:
    url = start_gateway(metrics_per_key=True).url
    assert chat(url, "demo", "hi").status_code == 200
    text = scrape(url)
    assert total(text, "llm_tokens_total", key="master", type="output") > 0
    default = start_gateway().url
    chat(default, "demo", "hi")
    assert 'key="' not in scrape(default)


def test_budget_refusals_are_counted(start_gateway: Any, openai_upstream: Any) -> None:
    budget = "budgets:\n  - {scope: end_user, id: capped, period: monthly, limit_usd: '0.0000001'}\n"
    url = start_gateway(config_yaml=upstream_config(openai_upstream[1].url) + budget).url
    refused = chat(url, "mini", "hi", user="capped")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota"
    assert chat(url, "mini", "hi", user="someone-else").status_code == 200
    text = scrape(url)
    assert total(text, "budget_exceeded_total") == 1 and total(text, "rate_limit_exceeded_total") == 0


def test_rate_limit_refusals_are_counted(gateway: str) -> None:
    created = httpx.post(gateway + "/api/v1/admin/api-keys", headers=AUTH, json={"name": "slow", "rpm_limit": 1})
    assert created.status_code == 201, created.text
    key = {"authorization": f"Bearer {created.json()['key']}"}
    assert chat(gateway, "mini", "hi", headers=key).status_code == 200
    limited = chat(gateway, "mini", "hi", headers=key)
    assert limited.status_code == 429, limited.text
    text = scrape(gateway)
    assert total(text, "rate_limit_exceeded_total") == 1 and total(text, "budget_exceeded_total") == 0
    assert created.json()["key"] not in text and 'key="' not in text
