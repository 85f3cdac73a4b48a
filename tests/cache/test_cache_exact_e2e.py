"""Issue 18, the exact cache through the real app over HTTP, the openai SDK as the client, a fake OpenAI upstream
that counts calls: hits without an upstream call (keys in another order), streams replayed as streams, failed or
cut-off streams never kept, per-request controls, tenants kept apart, one ledger record per call."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.cache.conftest import MASTER, Start, admin, prompt, sdk, tenant_key, upstream_calls
from tests.conftest import MASTER_KEY
from tests.fakes import openai_upstream as fake
from tests.fakes.runner import AiohttpServer, UvicornServer


@pytest.fixture(scope="module")
def gw(start_cached: Start) -> UvicornServer:
    server: UvicornServer = start_cached("memory")
    return server


def raw_chat(url: str, raw: bytes, key: str = MASTER_KEY, **headers: str) -> httpx.Response:
    auth = {"authorization": f"Bearer {key}", "content-type": "application/json", **headers}
    return httpx.post(url + "/v1/chat/completions", content=raw, headers=auth, timeout=30)


def entries(url: str, key: str = MASTER_KEY) -> int:
    return int(admin(url, "GET", "/cache/stats", key).json()["entries"])


def wait_entries(url: str, at_least: int, key: str = MASTER_KEY) -> dict[str, Any]:
    """The cache's stats once they show `at_least` entries (an answer is kept just after it is sent)."""
    deadline = time.monotonic() + 30
    while True:
        stats: dict[str, Any] = admin(url, "GET", "/cache/stats", key).json()
        if stats["entries"] >= at_least or time.monotonic() > deadline:
            return stats
        time.sleep(0.02)


def test_the_same_call_with_keys_in_another_order_is_answered_without_the_upstream(
    gw: UvicornServer, module_upstream: AiohttpServer
) -> None:
    tenant, key = tenant_key(gw.url)
    text = prompt()
    first = sdk(gw.url, key).chat.completions.with_raw_response.create(
        model="mini", messages=[{"role": "user", "content": text}], temperature=0, max_tokens=20
    )
    assert first.headers["x-oneflow-cache"] == "miss"
    wait_entries(gw.url, 1, key)
    # the same request: its keys in another order, other whitespace, a whole float for the integer
    raw = (
        b'{ "max_tokens" : 20,\n "messages": [ {"content": %s, "role": "user"} ], "temperature": 0.0, "model": "mini" }'
    )
    second = raw_chat(gw.url, raw % orjson.dumps(text), key)
    assert second.status_code == 200, second.text
    assert second.headers["x-oneflow-cache"] == "hit" and second.headers["x-oneflow-provider"] == "cache"
    assert second.json()["choices"][0]["message"]["content"] == first.parse().choices[0].message.content == fake.REPLY
    assert upstream_calls(module_upstream, text) == 1
    # through an alias of the model too: the entry is the group's
    third = sdk(gw.url, key).chat.completions.with_raw_response.create(
        model="mini-alias", messages=[{"role": "user", "content": text}], temperature=0, max_tokens=20
    )
    assert third.headers["x-oneflow-cache"] == "hit" and upstream_calls(module_upstream, text) == 1

    ids = [first.headers["x-request-id"], second.headers["x-request-id"], third.headers["x-request-id"]]
    rows = {r["request_id"]: r for r in ledger_rows(gw.database_url, ids)}  # type: ignore[attr-defined]
    assert len(rows) == 3  # one record per call
    miss, hit = rows[ids[0]], rows[ids[1]]
    assert (miss["cache_hit"], miss["cache_kind"], miss["provider"]) == (False, None, "openai")
    assert Decimal(miss["cost_usd"]) > 0
    assert (hit["cache_hit"], hit["cache_kind"], hit["provider"], hit["deployment_id"]) == (
        True,
        "exact",
        "cache",
        None,
    )
    assert Decimal(hit["cost_usd"]) == 0 and Decimal(hit["saved_usd"]) == Decimal(miss["cost_usd"])
    assert (hit["input_tokens"], hit["output_tokens"]) == (fake.PROMPT_TOKENS, fake.COMPLETION_TOKENS)
    assert (hit["status"], hit["tenant_id"], hit["attempts"]) == ("ok", tenant, 0)

    stats = admin(gw.url, "GET", "/cache/stats", key).json()
    assert (stats["tenant"], stats["entries"], stats["hits"], stats["misses"]) == (tenant, 1, 2, 1)
    assert Decimal(stats["saved_usd"]) == 2 * Decimal(miss["cost_usd"])
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'cache_hits_total{kind="exact"} 2.0' in metrics and 'cache_misses_total{kind="exact"} 1.0' in metrics


def test_a_hit_on_a_streamed_call_is_replayed_as_a_stream_and_a_stream_fills_the_cache(
    gw: UvicornServer, module_upstream: AiohttpServer
) -> None:
    client = sdk(gw.url)
    kept = entries(gw.url)
    text = prompt("stream")
    messages: Any = [{"role": "user", "content": text}]
    with client.chat.completions.with_streaming_response.create(
        model="mini", messages=messages, stream=True, stream_options={"include_usage": True}
    ) as streamed:
        assert streamed.headers["x-oneflow-cache"] == "miss"
        chunks = list(streamed.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake.REPLY
    before = wait_entries(gw.url, kept + 1)["entries"]

    reply = client.chat.completions.with_raw_response.create(model="mini", messages=messages)
    assert reply.headers["x-oneflow-cache"] == "hit"
    completion = reply.parse()
    assert completion.choices[0].message.content == fake.REPLY and completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == fake.COMPLETION_TOKENS

    with client.chat.completions.with_streaming_response.create(
        model="mini", messages=messages, stream=True, stream_options={"include_usage": True}
    ) as replayed:
        assert replayed.headers["x-oneflow-cache"] == "hit"
        assert replayed.headers["content-type"].startswith("text/event-stream")
        request_id = replayed.headers["x-request-id"]
        chunks = list(replayed.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake.REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == fake.COMPLETION_TOKENS
    assert upstream_calls(module_upstream, text) == 1
    assert admin(gw.url, "GET", "/cache/stats").json()["entries"] == before
    [row] = ledger_rows(gw.database_url, [request_id])  # type: ignore[attr-defined]
    assert (row["cache_hit"], row["cache_kind"], row["streamed"], row["status"]) == (True, "exact", True, "ok")


def test_a_streamed_tool_call_is_kept_whole(gw: UvicornServer, module_upstream: AiohttpServer) -> None:
    text = prompt("weather")
    body: Any = {
        "model": "mini",
        "messages": [{"role": "user", "content": text}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    }
    kept = entries(gw.url)
    with sdk(gw.url).chat.completions.with_streaming_response.create(**body, stream=True) as streamed:
        list(streamed.parse())
    wait_entries(gw.url, kept + 1)
    hit = sdk(gw.url).chat.completions.with_raw_response.create(**body)
    assert hit.headers["x-oneflow-cache"] == "hit"
    choice = hit.parse().choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        fake.TOOL_CALL["id"],
        "get_weather",
        '{"city": "Paris"}',
    )
    with sdk(gw.url).chat.completions.with_streaming_response.create(**body, stream=True) as replayed:
        assert replayed.headers["x-oneflow-cache"] == "hit"
        chunks = [c for c in replayed.parse() if c.choices]
    [tool] = [t for c in chunks for t in c.choices[0].delta.tool_calls or ()]
    assert (tool.index, tool.id, tool.function and tool.function.arguments) == (0, call.id, '{"city": "Paris"}')
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert upstream_calls(module_upstream, text) == 1


def test_a_cut_off_stream_is_never_kept(gw: UvicornServer, module_upstream: AiohttpServer) -> None:
    text = prompt("cut")
    body = {"model": "cut", "messages": [{"role": "user", "content": text}], "stream": True}
    for _ in range(2):
        with httpx.stream("POST", gw.url + "/v1/chat/completions", headers=MASTER, json=body, timeout=30) as r:
            events = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert "error" in orjson.loads(events[-1][6:])  # the upstream dropped the connection mid-stream
    assert upstream_calls(module_upstream, text) == 2  # the second was not answered from a broken first


def test_a_stream_its_client_left_is_never_kept(gw: UvicornServer, module_upstream: AiohttpServer) -> None:
    text = prompt("left")
    body = {"model": "slow", "messages": [{"role": "user", "content": text}], "stream": True}
    for n in (1, 2):
        with httpx.stream("POST", gw.url + "/v1/chat/completions", headers=MASTER, json=body, timeout=30) as r:
            assert r.headers["x-oneflow-cache"] == "miss"
            next(r.iter_lines())  # the first chunk, then the client leaves
        assert upstream_calls(module_upstream, text) == n


def test_no_store_keeps_nothing_and_no_cache_goes_upstream(gw: UvicornServer, module_upstream: AiohttpServer) -> None:
    client = sdk(gw.url)
    text = prompt("controls")
    messages: Any = [{"role": "user", "content": text}]
    kept = entries(gw.url)
    r = client.chat.completions.with_raw_response.create(
        model="mini", messages=messages, extra_headers={"cache-control": "no-store"}
    )
    assert r.headers["x-oneflow-cache"] == "miss"
    r = client.chat.completions.with_raw_response.create(
        model="mini", messages=messages, extra_body={"cache": {"no_store": True}}
    )
    assert r.headers["x-oneflow-cache"] == "miss" and upstream_calls(module_upstream, text) == 2
    fake_upstream: Any = module_upstream.fake  # type: ignore[attr-defined]
    assert "cache" not in fake_upstream.received[-1]["body"]  # the body field never reaches the upstream
    assert entries(gw.url) == kept  # nothing kept

    client.chat.completions.create(model="mini", messages=messages)  # kept
    wait_entries(gw.url, kept + 1)
    r = client.chat.completions.with_raw_response.create(
        model="mini", messages=messages, extra_headers={"cache-control": "no-cache"}
    )
    assert r.headers["x-oneflow-cache"] == "bypass" and upstream_calls(module_upstream, text) == 4
    r = client.chat.completions.with_raw_response.create(model="mini", messages=messages)
    assert r.headers["x-oneflow-cache"] == "hit" and upstream_calls(module_upstream, text) == 4


def test_a_malformed_cache_field_is_a_400(gw: UvicornServer) -> None:
    for field in ({"ttl_s": 0}, {"no_store": "yes"}, {"forever": True}, "no"):
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            headers=MASTER,
            json={"model": "mini", "messages": [{"role": "user", "content": "x"}], "cache": field},
            timeout=30,
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"].startswith("cache")


def test_sampling_calls_are_not_answered_from_the_cache_unless_allowed(
    gw: UvicornServer, module_upstream: AiohttpServer
) -> None:
    client = sdk(gw.url)
    text = prompt("hot")
    messages: Any = [{"role": "user", "content": text}]
    for n in (1, 2):
        r = client.chat.completions.with_raw_response.create(model="mini", messages=messages, temperature=0.7)
        assert r.headers["x-oneflow-cache"] == "bypass" and upstream_calls(module_upstream, text) == n
    allowed: Any = {"cache": {"allow_temperature": True}}
    kept = entries(gw.url)
    r = client.chat.completions.with_raw_response.create(
        model="mini", messages=messages, temperature=0.7, extra_body=allowed
    )
    assert r.headers["x-oneflow-cache"] == "miss"
    wait_entries(gw.url, kept + 1)
    r = client.chat.completions.with_raw_response.create(
        model="mini", messages=messages, temperature=0.7, extra_body=allowed
    )
    assert r.headers["x-oneflow-cache"] == "hit" and upstream_calls(module_upstream, text) == 3
    # a model may allow it for every call
    warm = prompt("warm")
    for expected in ("miss", "hit"):
        r = client.chat.completions.with_raw_response.create(
            model="warm", messages=[{"role": "user", "content": warm}], temperature=1
        )
        assert r.headers["x-oneflow-cache"] == expected
        wait_entries(gw.url, kept + 2)
    assert upstream_calls(module_upstream, warm) == 1
    # and a model with the cache off is never looked up
    off = client.chat.completions.with_raw_response.create(model="nocache", messages=messages)
    assert "x-oneflow-cache" not in off.headers


def test_a_failed_call_is_not_kept(gw: UvicornServer, module_upstream: AiohttpServer) -> None:
    text = prompt("broken")
    for n in (1, 2):
        r = httpx.post(
            gw.url + "/v1/chat/completions",
            headers=MASTER,
            json={"model": "broken", "messages": [{"role": "user", "content": text}]},
            timeout=30,
        )
        assert r.status_code >= 500
        assert upstream_calls(module_upstream, text) >= n
