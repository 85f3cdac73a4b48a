"""Issue 2 acceptance: OpenAI-format requests for Claude models served by a local Anthropic-compatible
upstream (zero-config from ANTHROPIC_API_KEY + ANTHROPIC_BASE_URL); and the `anthropic` SDK as a client."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes import anthropic_upstream as fake
from tests.fakes import openai_upstream as fake_openai

CLAUDE = "claude-3-haiku-20240307"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def setup(start_gateway: Any, anthropic_upstream: Any, openai_upstream: Any, database_url: str) -> tuple[Any, ...]:
    upstream, server = anthropic_upstream
    _, openai_server = openai_upstream
    gw = start_gateway(
        env={
            "ANTHROPIC_API_KEY": UPSTREAM_KEY,
            "ANTHROPIC_BASE_URL": server.url,
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": openai_server.url + "/v1",
        },
        database_url=database_url,
    )
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    return client, upstream, database_url, gw.url


def test_openai_request_for_claude(setup: Any) -> None:
    client, upstream, db, _ = setup
    raw = client.chat.completions.with_raw_response.create(
        model=CLAUDE,
        max_tokens=100,
        temperature=0.2,
        stop=["END"],
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == fake.TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        fake.INPUT_TOKENS,
        fake.OUTPUT_TOKENS,
    )
    sent = upstream.received[-1]
    assert sent["headers"]["x-api-key"] == UPSTREAM_KEY and "anthropic-version" in sent["headers"]
    assert sent["body"]["system"] == "Be brief." and sent["body"]["stop_sequences"] == ["END"]
    assert (
        sent["body"]["messages"] == [{"role": "user", "content": "hi"}] or sent["body"]["messages"][0]["role"] == "user"
    )
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert row["provider"] == "anthropic" and row["input_tokens"] == fake.INPUT_TOKENS and row["cost_usd"] > 0


def test_streamed_claude_gives_openai_chunks_with_usage(setup: Any) -> None:
    client, _, db, _ = setup
    raw = client.chat.completions.with_raw_response.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake.TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    [usage] = [c.usage for c in chunks if c.usage is not None]
    assert (usage.prompt_tokens, usage.completion_tokens) == (fake.INPUT_TOKENS, fake.OUTPUT_TOKENS)
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["output_tokens"], row["usage_source"], row["streamed"]) == (fake.OUTPUT_TOKENS, "upstream", True)


def test_claude_tool_calls(setup: Any) -> None:
    client, upstream, _, _ = setup
    completion = client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    [call] = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert upstream.received[-1]["body"]["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}
    stream = client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],
        stream=True,  # type: ignore[list-item]
    )
    arguments = "".join(
        tc.function.arguments or ""
        for c in stream
        for ch in c.choices  # type: ignore[union-attr]
        for tc in (ch.delta.tool_calls or [])
    )
    assert json.loads(arguments) == {"city": "Paris"}


def test_anthropic_upstream_errors_keep_their_message(setup: Any, start_gateway: Any, anthropic_upstream: Any) -> None:
    _, server = anthropic_upstream
    gw = start_gateway(
        config_yaml=f"""
models:
  - name: overloaded
    deployments: [{{provider: anthropic, model: claude-error, base_url: "{server.url}", api_key: env:UPSTREAM_KEY}}]
  - name: bad
    deployments: [{{provider: anthropic, model: claude-400, base_url: "{server.url}", api_key: env:UPSTREAM_KEY}}]
"""
    )
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="overloaded", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502 and "Overloaded" in str(info.value)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="bad", messages=[{"role": "user", "content": "hi"}])
    assert "roles must alternate" in str(bad.value)


def test_embeddings_of_a_claude_model_are_refused_without_calling_anthropic(setup: Any) -> None:
    """Anthropic has no embeddings capability (no stubbed method): the gateway says so, and sends nothing."""
    client, upstream, _, _ = setup
    before = len(upstream.received)
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=CLAUDE, input="hi")
    assert f"The model '{CLAUDE}' does not support embeddings." in str(info.value)
    assert len(upstream.received) == before


def test_anthropic_sdk_as_client(setup: Any) -> None:
    _, _, _, url = setup
    client = anthropic.Anthropic(api_key=MASTER_KEY, base_url=url, max_retries=0)
    message = client.messages.create(model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == fake.TEXT  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == fake.OUTPUT_TOKENS
    with client.messages.stream(model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == fake.TEXT and final.usage.output_tokens == fake.OUTPUT_TOKENS
    # the same Messages API in front of an OpenAI upstream
    via_openai = client.messages.create(model="gpt-4o", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert via_openai.content[0].text == fake_openai.REPLY  # type: ignore[union-attr]
    assert via_openai.usage.output_tokens == fake_openai.COMPLETION_TOKENS
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(api_key="sk-wrong", base_url=url, max_retries=0).messages.create(
            model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
