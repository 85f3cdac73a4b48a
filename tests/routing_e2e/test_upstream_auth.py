"""A provider that refuses the gateway's key (a revoked provider key) over real HTTP: the deployment's fault,
not the caller's. The call fails over to the next deployment, the refusals count on the breaker, and when
no deployment is left the client gets 502 `upstream_auth_failed` without a word of the provider's message
(which quotes the masked key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.routing_e2e.load import AUTH, HI
from tests.routing_e2e.upstreams import Upstream

REVOKED_KEY = "sk-revoked-0123456789-wxyz"
"""What the first deployment sends: the fake answers 401 `Incorrect API key provided: sk-revok*...*wxyz. ...`."""
LEAKS = ("wxyz", "sk-revok", "Incorrect API key", "platform.openai.com", "invalid_api_key")


def deployment(upstream: Upstream, model: str, key_env: str, quality: float) -> str:
    return (
        f"{{provider: openai_compatible, base_url: '{upstream.url}', model: {model}, api_key: env:{key_env}, "
        f"quality: {quality}, timeouts: {{connect: 1, read: 5}}}}"
    )


@pytest.fixture
def setup(start_gateway: Any, upstreams: Callable[[], Upstream]) -> tuple[str, Upstream]:
    upstream = upstreams()
    config = f"""routing:
  max_attempts: 3
  backoff_base_s: 0.01
  breaker: {{failure_rate_threshold: 0.5, min_requests: 5, window_s: 30, cooldown_s: 60}}
models:
  - name: chat
    strategy: quality_optimized
    deployments:
      - {deployment(upstream, "revoked-model", "REVOKED_KEY", 0.9)}
      - {deployment(upstream, "good-model", "UPSTREAM_KEY", 0.1)}
  - name: locked-out
    strategy: quality_optimized
    deployments:
      - {deployment(upstream, "revoked-a", "REVOKED_KEY", 0.9)}
      - {deployment(upstream, "revoked-b", "REVOKED_KEY", 0.1)}
"""
    return start_gateway(config_yaml=config, env={"REVOKED_KEY": REVOKED_KEY}).url, upstream


def post(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url + path, json=body, headers=AUTH, timeout=10)


def health_of(url: str, deployment_id: str) -> dict[str, Any]:
    health = httpx.get(url + "/api/v1/admin/routing/health", headers=AUTH).json()
    [entry] = [d for d in health["deployments"] if d["id"] == deployment_id]
    return entry  # type: ignore[no-any-return]


def test_a_refused_key_fails_over_and_opens_the_breaker(setup: tuple[str, Upstream]) -> None:
    url, upstream = setup
    for i in range(8):
        r = post(url, "/v1/chat/completions", {"model": "chat", "messages": HI})
        assert r.status_code == 200, r.text
        assert r.headers["x-oneflow-model"] == "good-model"
        assert r.headers["x-oneflow-attempts"] == ("2" if i < 5 else "1")  # 5 refusals in a row open it
    assert upstream.fake.models() == ["revoked-model", "good-model"] * 5 + ["good-model"] * 3
    entry = health_of(url, "chat/0")
    assert entry["state"] == "open" and entry["samples"] == 5 and entry["error_rate"] > 0.5
    assert health_of(url, "chat/1")["error_rate"] == 0


def test_when_every_deployment_refuses_the_client_gets_502_without_the_providers_text(
    setup: tuple[str, Upstream],
) -> None:
    url, upstream = setup
    chat = {"model": "locked-out", "messages": HI}
    replies = [
        post(url, "/v1/chat/completions", chat),
        post(url, "/v1/chat/completions", {**chat, "stream": True}),
        post(url, "/v1/messages", {**chat, "max_tokens": 16}),
    ]
    for r in replies:
        assert r.status_code == 502, r.text
        assert not any(leak in r.text for leak in LEAKS), r.text
    for r in replies[:2]:
        error = r.json()["error"]
        assert (error["type"], error["code"], error["param"]) == ("api_error", "upstream_auth_failed", None)
        assert error["message"] == (
            "The provider rejected the gateway's credentials for deployment 'locked-out/1' (HTTP 401)."
        )
    assert replies[2].json() == {
        "type": "error",
        "error": {
            "type": "api_error",
            "message": "The provider rejected the gateway's credentials for deployment 'locked-out/1' (HTTP 401).",
        },
    }
    # each deployment was tried once per call: no retry of the same deployment can fix a refused key
    assert sorted(upstream.fake.models()) == ["revoked-a"] * 3 + ["revoked-b"] * 3
    assert health_of(url, "locked-out/0")["samples"] == 3 and health_of(url, "locked-out/1")["samples"] == 3
