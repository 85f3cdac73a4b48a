"""`Idempotency-Key` over real HTTP, against the fake OpenAI upstream that counts the calls it received."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY
from tests.observability.conftest import AUTH, total, upstream_config

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def upstream(openai_upstream: Any) -> Any:
    return openai_upstream[0]


@pytest.fixture
def gateway(start_gateway: Any, openai_upstream: Any, database_url: str) -> tuple[str, str]:
    server = start_gateway(config_yaml=upstream_config(openai_upstream[1].url), database_url=database_url)
    return server.url, database_url


def calls(upstream: Any, marker: str) -> int:
    """How many requests carrying `marker` reached the upstream."""
    return sum(marker in json.dumps(r["body"]) for r in upstream.received)


def post(url: str, key: str | None, marker: str, path: str = "/v1/chat/completions", **extra: Any) -> httpx.Response:
    headers = {**AUTH, **({"idempotency-key": key} if key else {})}
    if path.endswith("embeddings"):
        body: dict[str, Any] = {"model": "embed", "input": marker, **extra}
    else:
        body = {"model": "mini", "messages": [{"role": "user", "content": marker}], **extra}
    return httpx.post(url + path, headers=headers, json=body, timeout=30)


def test_same_key_same_body_replays_without_a_second_call_or_charge(gateway: tuple[str, str], upstream: Any) -> None:
    url, db = gateway
    key, marker = uuid.uuid4().hex, uuid.uuid4().hex
    first = post(url, key, marker)
    again = post(url, key, marker)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["x-oneflow-provider"] == first.headers["x-oneflow-provider"]
    assert calls(upstream, marker) == 1
    assert len(ledger_rows(db, [first.headers["x-request-id"]])) == 1
    assert ledger_rows(db, [again.headers["x-request-id"]], wait_s=0.5) == []  # no second charge


def test_same_key_other_body_is_422(gateway: tuple[str, str], upstream: Any) -> None:
    url, _ = gateway
    key, marker = uuid.uuid4().hex, uuid.uuid4().hex
    assert post(url, key, marker).status_code == 200
    other = post(url, key, marker + "-changed")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert other.json()["error"]["type"] == "invalid_request_error"
    assert post(url, key, marker, path="/v1/embeddings").status_code == 422  # another route is another request
    assert calls(upstream, marker + "-changed") == 0


def test_a_stream_is_replayed_as_sse(gateway: tuple[str, str], upstream: Any) -> None:
    url, _ = gateway
    key, marker = uuid.uuid4().hex, uuid.uuid4().hex
    first = post(url, key, marker, stream=True)
    again = post(url, key, marker, stream=True)
    assert again.status_code == 200 and again.headers["content-type"].startswith("text/event-stream")
    assert again.text == first.text and again.text.rstrip().endswith("data: [DONE]")
    assert calls(upstream, marker) == 1


def test_a_replay_carries_each_header_once(gateway: tuple[str, str], upstream: Any) -> None:
    url, _ = gateway
    key, marker = uuid.uuid4().hex, uuid.uuid4().hex
    for stream in (False, True):
        post(url, key + str(stream), marker, stream=stream)
        again = post(url, key + str(stream), marker, stream=stream)
        assert again.headers["idempotent-replayed"] == "true"
        for name in ("x-request-id", "x-content-type-options", "x-frame-options", "content-type"):
            assert len(again.headers.get_list(name)) == 1, (name, again.headers.get_list(name))


def test_a_stream_that_fails_mid_way_is_not_kept(gateway: tuple[str, str], upstream: Any) -> None:
    url, _ = gateway
    key = uuid.uuid4().hex
    body = {"model": "cut", "stream": True, "messages": [{"role": "user", "content": key}]}
    for _ in range(2):
        r = httpx.post(url + "/v1/chat/completions", headers={**AUTH, "idempotency-key": key}, json=body, timeout=30)
        assert r.status_code == 200 and '"error"' in r.text and "[DONE]" not in r.text
        assert "idempotent-replayed" not in r.headers  # served again, not the failure replayed
    assert calls(upstream, key) == 2


def test_embeddings_and_the_api_v1_prefix(gateway: tuple[str, str], upstream: Any) -> None:
    url, _ = gateway
    key, marker = uuid.uuid4().hex, uuid.uuid4().hex
    first = post(url, key, marker, path="/api/v1/embeddings")
    again = post(url, key, marker, path="/api/v1/embeddings")
    assert first.status_code == 200 and again.json() == first.json()
    assert calls(upstream, marker) == 1


def test_concurrent_requests_with_one_key_make_one_upstream_call(gateway: tuple[str, str], upstream: Any) -> None:
    url, _ = gateway
    key, marker = uuid.uuid4().hex, uuid.uuid4().hex
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: post(url, key, marker, fake_delay_s=0.5), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert len({r.text for r in responses}) == 1
    assert calls(upstream, marker) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 3


def test_without_the_header_nothing_changes(gateway: tuple[str, str], upstream: Any) -> None:
    url, _ = gateway
    marker = uuid.uuid4().hex
    assert post(url, None, marker).status_code == post(url, None, marker).status_code == 200
    assert calls(upstream, marker) == 2


def test_failures_are_not_kept_and_keys_are_per_caller(gateway: tuple[str, str], upstream: Any) -> None:
    url, _ = gateway
    key = uuid.uuid4().hex
    broken = httpx.post(
        url + "/v1/chat/completions",
        headers={**AUTH, "idempotency-key": key},
        timeout=30,
        json={"model": "broken", "messages": [{"role": "user", "content": "x"}]},
    )
    assert broken.status_code == 502
    again = httpx.post(
        url + "/v1/chat/completions",
        headers={**AUTH, "idempotency-key": key},
        timeout=30,
        json={"model": "broken", "messages": [{"role": "user", "content": "x"}]},
    )
    assert again.status_code == 502 and "idempotent-replayed" not in again.headers  # tried again
    wrong = httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": "Bearer sk-wrong-key-123456", "idempotency-key": key},
        json={"model": "mini"},
    )
    assert wrong.status_code == 401
    assert (
        httpx.post(
            url + "/v1/chat/completions", headers={**AUTH, "idempotency-key": "x" * 300}, json={"model": "mini"}
        ).status_code
        == 400
    )


def test_redis_shares_keys_across_replicas(
    start_gateway: Any, openai_upstream: Any, redis_leftovers: Callable[[str], None]
) -> None:
    config = upstream_config(openai_upstream[1].url)
    a = start_gateway(config_yaml=config, redis_url=REDIS_URL, idempotency_ttl_s=60).url
    b = start_gateway(config_yaml=config, redis_url=REDIS_URL, idempotency_ttl_s=60).url
    upstream = openai_upstream[0]
    key, marker = uuid.uuid4().hex, uuid.uuid4().hex
    scoped = hashlib.sha256(f"None\0master\0{key}".encode()).hexdigest()  # the master key's (api/idempotency.py)
    redis_leftovers(f"oneflow:idempotency:*{scoped}")
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda u: post(u, key, marker, fake_delay_s=0.5), (a, b))
    assert first.status_code == second.status_code == 200 and first.text == second.text
    third = post(b, key, marker, fake_delay_s=0.5)
    assert third.headers["idempotent-replayed"] == "true" and third.text == first.text
    assert post(a, key, marker + "!").status_code == 422
    assert calls(upstream, marker) == 1
    status = httpx.get(a + "/api/v1/admin/features/status", headers=AUTH).json()
    assert status["idempotency"]["detail"]["store"] == "redis"
    assert MASTER_KEY not in json.dumps(status)


def test_without_redis_a_full_store_forgets_the_oldest_and_counts_it(start_gateway: Any, openai_upstream: Any) -> None:
    """ONEFLOW_IDEMPOTENCY_MAX_BYTES bounds the in-memory store: past it the oldest answers go first, counted."""
    server = start_gateway(config_yaml=upstream_config(openai_upstream[1].url), idempotency_max_bytes=8_000)
    upstream = openai_upstream[0]
    marker = uuid.uuid4().hex
    keys = [f"{marker}-{i}" for i in range(10)]  # an answer counts ~3 KB (body, 11 headers, overhead): 2 fit
    for key in keys:
        assert post(server.url, key, marker).status_code == 200
    assert post(server.url, keys[-1], marker).headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in post(server.url, keys[0], marker).headers  # forgotten: served again
    assert calls(upstream, marker) == len(keys) + 1
    evicted = total(httpx.get(server.url + "/metrics").text, "idempotency_evictions_total")
    assert evicted >= len(keys) - 5
