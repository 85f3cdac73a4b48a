"""Streams over real HTTP, as the routing health sees them (issue 15 #4): a stream's attempt lasts until the
stream ends, so it counts in flight (for `least_busy`) while it runs, and an upstream that drops the connection
mid-way is a failure of that deployment (breaker, error rate); a client that leaves is not."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.routing_e2e.conftest import deployment
from tests.routing_e2e.load import AUTH, HI
from tests.routing_e2e.upstreams import Upstream


@pytest.fixture
def url(start_gateway: Any, upstreams: Callable[[], Upstream]) -> str:
    upstream = upstreams()
    config = f"""models:  # the default routing: a breaker opens after 5 failures in a row
  - name: cut
    deployments:
      - {deployment(upstream, "fake-cut-stream")}
  - name: slow
    strategy: least_busy
    deployments:
      - {deployment(upstream, "fake-slow-stream")}
"""
    return start_gateway(config_yaml=config).url  # type: ignore[no-any-return]


def health_of(url: str, deployment_id: str) -> dict[str, Any]:
    health = httpx.get(url + "/api/v1/admin/routing/health", headers=AUTH, timeout=10).json()
    [entry] = [d for d in health["deployments"] if d["id"] == deployment_id]
    return entry  # type: ignore[no-any-return]


def wait_for(url: str, deployment_id: str, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while not condition(entry := health_of(url, deployment_id)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return entry


def test_streams_cut_mid_way_open_the_breaker(url: str) -> None:
    body = {"model": "cut", "stream": True, "messages": HI}
    answers = [httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH, timeout=10) for _ in range(8)]
    cut = [r for r in answers if r.status_code == 200]
    assert len(cut) == 5  # five failures in a row open the breaker: the other three are not sent to it
    assert all('"Hello"' in r.text and '"error"' in r.text and "[DONE]" not in r.text for r in cut)
    assert [r.status_code for r in answers[5:]] == [503] * 3
    assert all(r.json()["error"]["code"] == "upstream_unavailable" for r in answers[5:])
    entry = health_of(url, "cut/0")
    assert entry["state"] == "open" and entry["opened_at"] is not None, entry
    assert entry["error_rate"] == 1.0 and entry["samples"] == 5 and entry["in_flight"] == 0


def test_a_stream_is_in_flight_until_it_ends_and_a_client_leaving_is_no_failure(url: str) -> None:
    body = {"model": "slow", "stream": True, "messages": HI}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=AUTH, timeout=10) as r:
        assert r.status_code == 200
        chunks = r.iter_bytes()  # kept: a dropped iterator closes the connection
        assert b"word" in next(chunks)
        assert health_of(url, "slow/0")["in_flight"] == 1  # 10 s of stream still to come
    entry = wait_for(url, "slow/0", lambda e: e["in_flight"] == 0)  # the client left: the relay is closed
    assert entry["in_flight"] == 0, entry
    assert entry["window"]["failed"] == 0 and entry["error_rate"] == 0.0 and entry["state"] == "closed"
    assert entry["samples"] == 1
