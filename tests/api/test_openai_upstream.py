"""Issue 2 acceptance: the `openai` SDK through the gateway to a local OpenAI-compatible upstream
(zero-config from OPENAI_API_KEY + OPENAI_BASE_URL), over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import openai
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes import openai_upstream as fake

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def setup(start_gateway: Any, openai_upstream: Any, database_url: str) -> tuple[openai.OpenAI, Any, str]:
    upstream, server = openai_upstream
    nousage = f"""models:  # a server that ignores `stream_options` (sends no usage chunk), next to the zero-config ones
  - name: nousage
    deployments:
      - {{provider: openai_compatible, base_url: '{server.url}/v1', model: fake-nousage, api_key: env:OPENAI_API_KEY}}
"""
    gw = start_gateway(
        config_yaml=nousage,
        env={"OPENAI_API_KEY": UPSTREAM_KEY, "OPENAI_BASE_URL": server.url + "/v1"},
        database_url=database_url,
    )
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    return client, upstream, database_url


def test_chat_returns_what_the_upstream_sent(setup: Any) -> None:
    client, upstream, db = setup
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        seed=7,
        n=2,
        stop=["\n\n"],
        user="alice",
        response_format={"type": "json_object"},
        extra_body={"some_new_field": {"x": 1}},
    )
    completion = raw.parse()
    assert [c.message.content for c in completion.choices] == [fake.REPLY, fake.REPLY]
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        fake.PROMPT_TOKENS,
        fake.COMPLETION_TOKENS,
    )
    assert raw.headers["x-oneflow-provider"] == "openai" and raw.headers["x-oneflow-model"] == "gpt-4o"
    sent = upstream.received[-1]
    assert sent["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"  # the upstream key, never the client's
    for field, value in {
        "seed": 7,
        "n": 2,
        "stop": ["\n\n"],
        "user": "alice",
        "response_format": {"type": "json_object"},
        "some_new_field": {"x": 1},
    }.items():
        assert sent["body"][field] == value
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (11, 7, 3)
    # gpt-4o: $2.50 / 1M input ($1.25 cached), $10 / 1M output
    expected = (
        Decimal(8) * Decimal("2.5") / 10**6 + Decimal(3) * Decimal("1.25") / 10**6 + Decimal(7) * Decimal(10) / 10**6
    )
    assert row["cost_usd"] == expected
    assert row["credits"] == expected * 100
    assert row["status"] == "ok" and row["usage_source"] == "upstream" and not row["streamed"]


def test_streaming_with_include_usage(setup: Any) -> None:
    client, _, _ = setup
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == fake.REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and not usage_chunks[0].choices
    assert usage_chunks[0].usage.completion_tokens == fake.COMPLETION_TOKENS  # type: ignore[union-attr]


def test_include_usage_from_an_upstream_that_ignores_stream_options(setup: Any) -> None:
    """A server that sends no usage chunk (llama.cpp's): the client that asked gets the gateway's count, once, as
    the last chunk before [DONE], and the ledger records the same numbers (issue 15 #10)."""
    client, upstream, db = setup
    raw = client.chat.completions.with_raw_response.create(
        model="nousage",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    assert upstream.received[-1]["body"]["model"] == "fake-nousage"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake.REPLY
    assert [c.usage is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.id == chunks[0].id and last.model == chunks[0].model and last.object == "chat.completion.chunk"
    assert last.usage.completion_tokens > 0 and last.usage.prompt_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["input_tokens"], row["output_tokens"]) == (last.usage.prompt_tokens, last.usage.completion_tokens)
    assert row["usage_source"] == "counted" and row["status"] == "ok"


def test_streaming_without_include_usage_still_records_usage(setup: Any) -> None:
    client, upstream, db = setup
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(raw.parse())
    assert all(c.usage is None for c in chunks)  # the client did not ask, so it does not get the usage chunk
    assert upstream.received[-1]["body"]["stream_options"] == {"include_usage": True}  # but the gateway asked
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["input_tokens"], row["output_tokens"], row["usage_source"]) == (11, 7, "upstream")
    assert row["streamed"] and row["status"] == "ok" and row["cost_usd"] > 0


def test_tool_calling(setup: Any) -> None:
    client, _, _ = setup
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_abc123",
        "get_weather",
        {"city": "Paris"},
    )  # type: ignore[union-attr]


def test_streamed_tool_call_deltas(setup: Any) -> None:
    client, _, _ = setup
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],
        stream=True,  # type: ignore[list-item]
    )
    arguments = ""
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                arguments += call.function.arguments or ""  # type: ignore[union-attr]
            finish = choice.finish_reason or finish
    assert json.loads(arguments) == {"city": "Paris"} and finish == "tool_calls"


def test_embeddings(setup: Any) -> None:
    client, upstream, _ = setup
    result = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert [d.embedding for d in result.data] == [[0.1, -0.2, 0.3], [0.2, -0.2, 0.3]]
    assert result.usage.prompt_tokens == 5
    assert upstream.received[-1]["path"] == "/v1/embeddings"


def test_models_listing(setup: Any) -> None:
    client, _, _ = setup
    ids = {m.id for m in client.models.list()}
    assert {"gpt-4o", "text-embedding-3-small", "demo"} <= ids
    assert client.models.retrieve("gpt-4o").owned_by == "openai"
