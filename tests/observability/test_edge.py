"""The hardened HTTP edge: security headers, CORS from an allow-list, JSON depth, slow clients; and the
admin feature status."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest

from oneflow_ai.api.json_limits import check_depth
from oneflow_ai.errors import InvalidRequest
from tests.conftest import MASTER_KEY
from tests.observability.conftest import AUTH, ServeFactory

ORIGIN = "https://app.example.com"


@pytest.fixture
def url(start_gateway: Any) -> str:
    return str(start_gateway(cors_origins=(ORIGIN,)).url)


def test_security_headers_on_api_and_docs(url: str) -> None:
    api = httpx.get(url + "/v1/models", headers=AUTH)
    for response in (api, httpx.get(url + "/nope"), httpx.get(url + "/docs")):
        h = response.headers
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer" and h["strict-transport-security"].startswith("max-age=")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    docs = httpx.get(url + "/docs").headers["content-security-policy"]
    assert "script-src 'self'" in docs and "frame-ancestors 'none'" in docs and "default-src 'self'" in docs


def test_cors_allows_only_listed_origins(url: str) -> None:
    preflight = {
        "origin": ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,idempotency-key",
    }
    ok = httpx.options(url + "/v1/chat/completions", headers=preflight)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    bad = httpx.options(url + "/v1/chat/completions", headers={**preflight, "origin": "https://evil.example"})
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
    simple = httpx.get(url + "/v1/models", headers={**AUTH, "origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in simple.headers["access-control-expose-headers"]
    assert (
        "access-control-allow-origin"
        not in httpx.get(url + "/v1/models", headers={**AUTH, "origin": "https://x.y"}).headers
    )


def test_no_cors_unless_configured(start_gateway: Any) -> None:
    plain = start_gateway().url
    r = httpx.get(plain + "/v1/models", headers={**AUTH, "origin": ORIGIN})
    assert "access-control-allow-origin" not in r.headers


def test_deeply_nested_json_is_400(url: str) -> None:
    deep = b'{"model": "demo", "messages": [{"role": "user", "content": "x"}], "x": ' + b"[" * 80 + b"]" * 80 + b"}"
    r = httpx.post(url + "/v1/chat/completions", headers={**AUTH, "content-type": "application/json"}, content=deep)
    assert r.status_code == 400 and r.json()["error"]["code"] == "json_too_deep"
    shallow = b'{"model": "demo", "messages": [{"role": "user", "content": "x"}], "x": ' + b"[" * 40 + b"]" * 40 + b"}"
    r = httpx.post(url + "/v1/chat/completions", headers={**AUTH, "content-type": "application/json"}, content=shallow)
    assert r.status_code == 200


def test_depth_check() -> None:
    value: Any = {"messages": [{"role": "user", "content": "[" * 100}] * 100}  # brackets inside strings don't count
    assert check_depth(b"[" * 100, value) is value
    nested: Any = []
    for _ in range(70):
        nested = [nested]
    with pytest.raises(InvalidRequest):
        check_depth(b"[" * 71 + b"]" * 71, nested)
    assert check_depth(b"[" * 71, nested, limit=100) is nested


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def health_response(s: socket.socket) -> bytes:
    answer = b""
    while not answer.endswith(b'{"status":"ok"}'):
        chunk = s.recv(4096)
        assert chunk, answer
        answer += chunk
    return answer


def test_slow_clients_are_cut_off(serve: ServeFactory) -> None:
    served = serve(env={"ONEFLOW_HEADER_TIMEOUT_S": "0.5", "ONEFLOW_BODY_TIMEOUT_S": "0.5"})
    with connect(served.url) as s:  # headers that never end
        s.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n")
        started = time.monotonic()
        assert s.recv(1024).startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5
        assert s.recv(1024) == b""  # closed
    with connect(served.url) as s:  # a connection that never sends anything
        started = time.monotonic()
        assert s.recv(1024).startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5
    with connect(served.url) as s:  # a body that stalls
        s.sendall(
            (
                f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {MASTER_KEY}\r\n"
                'content-type: application/json\r\ncontent-length: 100\r\n\r\n{"model": "de'
            ).encode()
        )
        started = time.monotonic()
        assert s.recv(1024).startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5
        assert s.recv(1024) == b""
    with connect(served.url) as s:  # a prompt client on a kept-alive connection is served, request after request
        for pause in (0.3, 0.3, 0.6):  # idle between requests, longer in total than the timeouts
            s.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            assert health_response(s).startswith(b"HTTP/1.1 200")
            time.sleep(pause)
        s.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        assert health_response(s).startswith(b"HTTP/1.1 200")
    assert (
        httpx.post(
            served.url + "/v1/chat/completions",
            headers=AUTH,
            json={"model": "demo", "messages": [{"role": "user", "content": "hi"}]},
        ).status_code
        == 200
    )


def test_feature_status(url: str) -> None:
    assert httpx.get(url + "/api/v1/admin/features/status").status_code == 401
    r = httpx.get(url + "/api/v1/admin/features/status", headers=AUTH)
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["providers"]["demo"] == ["demo", "demo-embedding", "demo-image", "demo-speech"]
    assert status["database"] == "sqlite" and status["redis"]["enabled"] is False
    assert status["metrics"]["enabled"] is True and status["tracing"]["enabled"] is False
    assert status["caching"]["enabled"] is False
    assert status["idempotency"] == {"enabled": True, "detail": {"store": "memory", "ttl_s": 86400}}
    assert status["cors"] == {"enabled": True, "detail": {"origins": [ORIGIN]}}
    assert status["budgets"]["enabled"] is True and status["rate_limits"]["enabled"] is True
    assert "LLMMetrics" in status["observers"] and "RequestLog" in status["observers"]
