"""Issue 15, must-have 3: `/v1/messages` served by an Anthropic deployment goes Anthropic to Anthropic.

The `anthropic` SDK is the client, the real app serves over HTTP, a fake Anthropic upstream answers in Anthropic's
exact wire format. What the caller sent (`cache_control`, `thinking`, `top_k`, ...) reaches the upstream unchanged,
the upstream's answer (thinking blocks, cache token counts) reaches the caller unchanged, and the ledger records the
cache reads and writes at their prices. Served by an OpenAI deployment, the same call is still translated, also as
a fallback within one call.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY
from tests.fakes import anthropic_upstream as fake
from tests.fakes import openai_upstream as fake_openai

CLAUDE = "claude-3-haiku-20240307"
# claude-3-haiku's catalog price, USD per token: input, cache read, output; a cache write is 1.25x input
INPUT, CACHE_READ, OUTPUT = Decimal("0.25") / 10**6, Decimal("0.03") / 10**6, Decimal("1.25") / 10**6
CACHED_COST = (
    fake.INPUT_TOKENS * INPUT
    + fake.CACHE_READ_TOKENS * CACHE_READ
    + fake.CACHE_WRITE_TOKENS * INPUT * Decimal("1.25")
    + fake.OUTPUT_TOKENS * OUTPUT
)

SYSTEM = [
    {"type": "text", "text": "You are a terse assistant."},
    {"type": "text", "text": "A long, stable instruction block. " * 40, "cache_control": {"type": "ephemeral"}},
]
REQUEST: dict[str, Any] = {
    "max_tokens": 2048,
    "system": SYSTEM,
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
    ],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "metadata": {"user_id": "end-user-7"},
}
EXTRA = {"top_k": 5}
"""Sent as the SDK's `extra_body` (its `create` has no `top_k` parameter any more); Anthropic's API still takes it."""
SENT = {**REQUEST, **EXTRA}


@pytest.fixture
def gateway(start_gateway: Any, anthropic_upstream: Any, openai_upstream: Any, database_url: str) -> Any:
    upstream, server = anthropic_upstream
    _, openai_server = openai_upstream
    claude, gpt = server.url, openai_server.url + "/v1"

    def group(name: str, provider: str, model: str, url: str, fallbacks: str = "") -> str:
        deployment = f'{{provider: {provider}, model: {model}, base_url: "{url}", api_key: env:UPSTREAM_KEY}}'
        return f"  - name: {name}\n    deployments: [{deployment}]\n" + (
            f"    fallbacks: [{fallbacks}]\n" if fallbacks else ""
        )

    gw = start_gateway(
        config_yaml="models:\n"
        + group(CLAUDE, "anthropic", CLAUDE, claude)
        + group("gpt-4o", "openai", "gpt-4o", gpt)
        + group("claude-down", "anthropic", "claude-error", claude, fallbacks="gpt-4o")
        + group("gpt-down", "openai", "fake-error-500", gpt, fallbacks=CLAUDE)
        + group("claude-cut", "anthropic", "claude-cut", claude)
        + group("claude-stream-error", "anthropic", "claude-stream-error", claude),
        database_url=database_url,
    )
    client = anthropic.Anthropic(api_key=MASTER_KEY, base_url=gw.url, max_retries=0)
    return client, upstream, database_url, gw.url


def _sent_without_model(received: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in received["body"].items() if k != "model"}


def test_cache_control_thinking_and_top_k_reach_the_upstream_unchanged(gateway: Any) -> None:
    client, upstream, db, _ = gateway
    raw = client.messages.with_raw_response.create(model=CLAUDE, **REQUEST, extra_body=EXTRA)
    message = raw.parse()
    sent = upstream.received[-1]
    assert _sent_without_model(sent) == SENT  # nothing dropped, nothing added, nothing reordered into another form
    assert sent["body"]["model"] == CLAUDE
    assert sent["headers"]["anthropic-version"] == client.default_headers["anthropic-version"]  # the SDK's, kept
    # the answer as the upstream gave it: the thinking block and the cache counts
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == fake.THINKING and message.content[0].signature == fake.SIGNATURE  # type: ignore[union-attr]
    assert message.content[1].text == fake.TEXT  # type: ignore[union-attr]
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (fake.INPUT_TOKENS, fake.OUTPUT_TOKENS)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (
        fake.CACHE_WRITE_TOKENS,
        fake.CACHE_READ_TOKENS,
    )
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    prompt = fake.INPUT_TOKENS + fake.CACHE_READ_TOKENS + fake.CACHE_WRITE_TOKENS
    assert (row["input_tokens"], row["cached_tokens"], row["output_tokens"]) == (
        prompt,
        fake.CACHE_READ_TOKENS,
        fake.OUTPUT_TOKENS,
    )
    assert (row["endpoint"], row["status"], row["usage_source"], row["end_user"]) == (
        "messages",
        "ok",
        "upstream",
        "end-user-7",
    )
    assert Decimal(row["cost_usd"]) == CACHED_COST


def test_the_callers_beta_header_reaches_the_upstream(gateway: Any) -> None:
    client, upstream, _, _ = gateway
    client.messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    headers = upstream.received[-1]["headers"]
    assert headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert headers["x-api-key"] != MASTER_KEY  # the deployment's credential, never the caller's


def test_a_streamed_call_passes_the_upstreams_events_through(gateway: Any) -> None:
    client, upstream, db, url = gateway
    with client.messages.stream(model=CLAUDE, **REQUEST, extra_body=EXTRA) as stream:
        events = list(stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert _sent_without_model(upstream.received[-1]) == {**SENT, "stream": True}
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == fake.THINKING and final.content[1].text == fake.TEXT  # type: ignore[union-attr]
    assert any(e.type == "content_block_delta" and e.delta.type == "signature_delta" for e in events)  # type: ignore[union-attr]
    usage = final.usage
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (
        fake.CACHE_WRITE_TOKENS,
        fake.CACHE_READ_TOKENS,
    )
    assert usage.output_tokens == fake.OUTPUT_TOKENS
    [row] = ledger_rows(db, [request_id])
    assert (row["input_tokens"], row["cached_tokens"], row["output_tokens"]) == (
        fake.INPUT_TOKENS + fake.CACHE_READ_TOKENS + fake.CACHE_WRITE_TOKENS,
        fake.CACHE_READ_TOKENS,
        fake.OUTPUT_TOKENS,
    )
    assert (row["status"], row["usage_source"], row["streamed"]) == ("ok", "upstream", True)
    assert Decimal(row["cost_usd"]) == CACHED_COST
    # byte for byte: the upstream's SSE, as Anthropic frames it (event: lines included)
    body = {**SENT, "model": CLAUDE, "stream": True}
    headers = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", url + "/v1/messages", json=body, headers=headers) as response:
        text = response.read().decode()
    assert text.startswith("event: message_start\ndata: ")
    assert text.endswith('event: message_stop\ndata: {"type": "message_stop"}\n\n')  # the fake's json.dumps spacing


def test_an_openai_deployment_still_gets_the_call_translated_also_as_a_fallback(gateway: Any) -> None:
    client, upstream, db, _ = gateway
    _, _ = upstream, db
    direct = client.messages.create(model="gpt-4o", **REQUEST, extra_body=EXTRA)
    assert [b.type for b in direct.content] == ["text"] and direct.content[0].text == fake_openai.REPLY  # type: ignore[union-attr]
    # Anthropic deployment fails (529): the call falls back to the OpenAI group, translated
    seen = len(upstream.received)
    fallen = client.messages.with_raw_response.create(model="claude-down", **REQUEST, extra_body=EXTRA)
    assert fallen.parse().content[0].text == fake_openai.REPLY  # type: ignore[union-attr]
    assert fallen.headers["x-oneflow-provider"] == "openai"
    assert upstream.received[seen]["body"]["thinking"] == REQUEST["thinking"]  # the Anthropic try was native
    # the OpenAI deployment fails (500): the fallback is Anthropic, and it is sent the caller's own body
    back = client.messages.with_raw_response.create(model="gpt-down", **REQUEST, extra_body=EXTRA)
    assert back.headers["x-oneflow-provider"] == "anthropic"
    assert back.parse().usage.cache_read_input_tokens == fake.CACHE_READ_TOKENS
    assert _sent_without_model(upstream.received[-1]) == SENT
    with client.messages.stream(model="gpt-down", **REQUEST, extra_body=EXTRA) as stream:
        assert stream.get_final_message().content[0].type == "thinking"
    assert _sent_without_model(upstream.received[-1]) == {**SENT, "stream": True}


def test_a_stream_failing_mid_way_ends_with_an_anthropic_error_and_is_recorded(gateway: Any) -> None:
    _, _, db, url = gateway
    headers = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}
    upstreams_error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    for model, error in (("claude-stream-error", upstreams_error), ("claude-cut", None)):
        body = {"model": model, "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        with httpx.stream("POST", url + "/v1/messages", json=body, headers=headers) as response:
            text = response.read().decode()
            request_id = response.headers["x-request-id"]
        last = text.rstrip("\n").rsplit("\n\n", 1)[-1]
        assert last.startswith("event: error\ndata: "), text
        sent = json.loads(last.split("data: ", 1)[1])
        if error is not None:
            assert sent == error  # the upstream's own error event, as it came
        else:  # the connection dropped: the gateway's own, in Anthropic's form
            assert sent["type"] == "error" and sent["error"]["type"] == "api_error", sent
        assert "message_stop" not in text
        [row] = ledger_rows(db, [request_id])
        assert (row["status"], row["usage_source"]) == ("upstream_error", "counted")
        assert row["input_tokens"] == fake.INPUT_TOKENS  # as message_start reported it
        assert row["output_tokens"] > 0  # "Hello", counted


SERVER_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
SEARCH_RESULT = {
    "type": "search_result",
    "source": "https://example.com/doc",
    "title": "A document",
    "content": [{"type": "text", "text": "What the document says."}],
    "citations": {"enabled": True},
}
NO_OPENAI_FORM: dict[str, Any] = {
    "max_tokens": 256,
    "messages": [{"role": "user", "content": [SEARCH_RESULT, {"type": "text", "text": "Summarise it."}]}],
    "tools": [SERVER_TOOL],
}


def test_a_call_with_no_openai_form_goes_to_an_anthropic_deployment_only(gateway: Any, openai_upstream: Any) -> None:
    client, upstream, db, _ = gateway
    openai_fake, _ = openai_upstream
    # a server tool and a search_result block: Anthropic's own, sent as they are
    raw = client.messages.with_raw_response.create(model=CLAUDE, **NO_OPENAI_FORM)
    assert raw.parse().usage.output_tokens == fake.OUTPUT_TOKENS
    assert _sent_without_model(upstream.received[-1]) == NO_OPENAI_FORM
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["status"], row["output_tokens"]) == ("ok", fake.OUTPUT_TOKENS)
    # an OpenAI deployment cannot be sent it: a 400 naming the part, and the upstream is not called
    seen = len(openai_fake.received)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="gpt-4o", **NO_OPENAI_FORM)
    assert "search_result" in str(info.value) and "Anthropic deployment" in str(info.value)
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    # an OpenAI group falling back to an Anthropic one: the OpenAI deployment is passed over, Anthropic serves
    served = client.messages.with_raw_response.create(model="gpt-down", **NO_OPENAI_FORM)
    assert served.headers["x-oneflow-provider"] == "anthropic"
    assert _sent_without_model(upstream.received[-1]) == NO_OPENAI_FORM
    assert len(openai_fake.received) == seen
