"""A first run: the demo model answers (streamed and not) with nothing configured; ops endpoints work."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from oneflow_ai.pricing import TokenCounter
from tests.conftest import MASTER_KEY

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def url(start_gateway: Any) -> str:
    return str(start_gateway().url)


def test_demo_chat(url: str) -> None:
    r = httpx.post(
        url + "/v1/chat/completions",
        headers=AUTH,
        json={"model": "demo", "messages": [{"role": "user", "content": "hello there"}]},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "This is OneFlow's demo model. You said: hello there"
    assert body["usage"]["completion_tokens"] == TokenCounter().count_text(body["choices"][0]["message"]["content"])
    assert r.headers["x-request-id"].startswith("req_")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_demo_stream_is_sse(url: str) -> None:
    with httpx.stream(
        "POST",
        url + "/api/v1/chat/completions",
        headers=AUTH,
        json={
            "model": "demo",
            "stream": True,
            "messages": [{"role": "user", "content": "stream me"}],
        },
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "This is OneFlow's demo model. You said: stream me"
    assert all("usage" not in c or c["usage"] is None for c in chunks)


def test_request_id_is_kept(url: str) -> None:
    r = httpx.get(url + "/v1/models", headers={**AUTH, "x-request-id": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42"


def test_health_ready_docs(url: str) -> None:
    assert httpx.get(url + "/health").json() == {"status": "ok"}
    ready = httpx.get(url + "/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "ledger": "ok"}
    docs = httpx.get(url + "/docs")
    assert docs.status_code == 200 and "/_docs/swagger-ui-bundle.js" in docs.text
    assert httpx.get(url + "/_docs/swagger-ui-bundle.js").status_code == 200
    assert httpx.get(url + "/redoc").status_code == 200
    spec = httpx.get(url + "/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/embeddings", "/v1/models", "/api/v1/chat/completions"} <= set(spec["paths"])


def test_ready_reports_redis(start_gateway: Any) -> None:
    gw = start_gateway(redis_url="redis://127.0.0.1:6379/0")
    assert httpx.get(gw.url + "/ready").json()["checks"] == {"database": "ok", "ledger": "ok", "redis": "ok"}
    down = start_gateway(redis_url="redis://127.0.0.1:1/0")
    r = httpx.get(down.url + "/ready")
    assert r.status_code == 503 and r.json()["checks"]["redis"].startswith("error")
