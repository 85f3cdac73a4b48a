"""Issue 16, the Responses API: `client.responses.create` (the `openai` SDK) through the real app over HTTP.

An `openai` deployment is sent the caller's body untranslated and its answer (or its SSE events) comes back byte for
byte (the fake OpenAI upstream speaks `/v1/responses` as OpenAI does); an Anthropic deployment is sent the request
translated to chat completions and then to Messages, and its answer comes back as a Responses `response` (or its
events). Each call has one ledger record, endpoint `responses`, priced exactly.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes import anthropic_upstream as fake_claude
from tests.fakes import openai_responses as fake

CLAUDE = "claude-3-haiku-20240307"
MILLION = Decimal(10**6)
# gpt-4o's catalog price, USD per token: input, cached input, output
GPT_IN, GPT_CACHED, GPT_OUT = Decimal("2.50") / MILLION, Decimal("1.25") / MILLION, Decimal("10.00") / MILLION
NATIVE_COST = (fake.INPUT_TOKENS - fake.CACHED_TOKENS) * GPT_IN + fake.CACHED_TOKENS * GPT_CACHED
NATIVE_COST += fake.OUTPUT_TOKENS * GPT_OUT
CLAUDE_IN, CLAUDE_OUT = Decimal("0.25") / MILLION, Decimal("1.25") / MILLION
CLAUDE_COST = fake_claude.INPUT_TOKENS * CLAUDE_IN + fake_claude.OUTPUT_TOKENS * CLAUDE_OUT
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get current temperature for a given location.",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "City and country e.g. Bogotá, Colombia"}},
        "required": ["location"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture
def gateway(start_gateway: Any, anthropic_upstream: Any, openai_upstream: Any, database_url: str) -> Any:
    claude_fake, claude_server = anthropic_upstream
    gpt_fake, gpt_server = openai_upstream
    gpt, claude = gpt_server.url + "/v1", claude_server.url

    def group(name: str, provider: str, model: str, url: str, fallbacks: str = "") -> str:
        deployment = f'{{provider: {provider}, model: {model}, base_url: "{url}", api_key: env:UPSTREAM_KEY}}'
        return f"  - name: {name}\n    deployments: [{deployment}]\n" + (
            f"    fallbacks: [{fallbacks}]\n" if fallbacks else ""
        )

    gw = start_gateway(
        config_yaml="models:\n"
        + group("gpt-4o", "openai", "gpt-4o", gpt)
        + group(CLAUDE, "anthropic", CLAUDE, claude)
        + group("gpt-down", "openai", "fake-error-500", gpt, fallbacks=CLAUDE)
        + group("gpt-cut", "openai", "fake-cut-stream", gpt),
        database_url=database_url,
    )
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=gw.url + "/v1", max_retries=0)
    return client, gpt_fake, claude_fake, database_url, (gw.url, gpt)


def test_an_openai_deployment_is_passed_the_body_and_answers_byte_for_byte(gateway: Any) -> None:
    client, gpt_fake, _, db, _ = gateway
    raw = client.responses.with_raw_response.create(
        model="gpt-4o", input="Tell me a three sentence bedtime story.", store=True, previous_response_id="resp_0"
    )
    response = raw.parse()
    sent = gpt_fake.received[-1]
    assert sent["path"] == "/v1/responses"
    assert sent["body"] == {
        "model": "gpt-4o",
        "input": "Tell me a three sentence bedtime story.",
        "store": True,
        "previous_response_id": "resp_0",  # passed through: OpenAI keeps the conversation
    }
    assert sent["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    expected = fake.response(sent["body"], "completed", [fake.message(fake.REPLY)], with_usage=True)
    assert raw.http_response.content == json.dumps(expected).encode()  # the upstream's bytes, as they came
    assert response.output_text == fake.REPLY
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["endpoint"], row["status"], row["provider"], row["usage_source"]) == (
        "responses",
        "ok",
        "openai",
        "upstream",
    )
    assert (row["input_tokens"], row["cached_tokens"], row["output_tokens"]) == (
        fake.INPUT_TOKENS,
        fake.CACHED_TOKENS,
        fake.OUTPUT_TOKENS,
    )
    assert Decimal(row["cost_usd"]) == NATIVE_COST


def test_an_openai_stream_passes_the_upstreams_events_through(gateway: Any) -> None:
    client, _, _, db, (url, upstream) = gateway
    stream = client.responses.create(model="gpt-4o", input="hi", stream=True)
    events = list(stream)
    request_id = stream.response.headers["x-request-id"]
    assert [e.type for e in events][:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output_text == fake.REPLY
    # the same request straight to the fake: the gateway's bytes are the upstream's
    body = {"model": "gpt-4o", "input": "hi", "stream": True}
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    through = httpx.post(url + "/v1/responses", json=body, headers=headers).content
    direct = httpx.post(upstream + "/responses", json=body, headers={"authorization": f"Bearer {UPSTREAM_KEY}"})
    assert through == direct.content and through.startswith(b"event: response.created\n")
    [row] = ledger_rows(db, [request_id])
    assert (row["endpoint"], row["streamed"], row["usage_source"]) == ("responses", True, "upstream")
    assert (row["input_tokens"], row["cached_tokens"], row["output_tokens"]) == (13, 4, 8)
    assert Decimal(row["cost_usd"]) == NATIVE_COST


def test_a_function_tool_through_openai(gateway: Any) -> None:
    client, gpt_fake, _, _, _ = gateway
    response = client.responses.create(model="gpt-4o", input="Weather in Paris?", tools=[WEATHER_TOOL])
    assert gpt_fake.received[-1]["body"]["tools"] == [WEATHER_TOOL]
    [call] = response.output
    assert call.type == "function_call"
    assert (call.name, call.call_id, json.loads(call.arguments)) == (
        "get_weather",
        "call_fake1",
        {"location": "Paris, France"},
    )


def test_an_anthropic_deployment_is_translated_both_ways(gateway: Any) -> None:
    client, _, claude_fake, db, _ = gateway
    raw = client.responses.with_raw_response.create(
        model=CLAUDE,
        instructions="Talk like a pirate.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Are semicolons optional?"}]}],
        max_output_tokens=300,
        temperature=0.2,
        user="end-user-3",
    )
    response = raw.parse()
    sent = claude_fake.received[-1]["body"]
    assert sent == {
        "model": CLAUDE,
        "system": "Talk like a pirate.",
        "messages": [{"role": "user", "content": "Are semicolons optional?"}],
        "max_tokens": 300,
        "temperature": 0.2,
        "metadata": {"user_id": "end-user-3"},
    }
    assert response.object == "response" and response.status == "completed" and response.id.startswith("resp_")
    assert response.output_text == fake_claude.TEXT
    assert response.model == CLAUDE and response.store is False
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (
        fake_claude.INPUT_TOKENS,
        fake_claude.OUTPUT_TOKENS,
    )
    [row] = ledger_rows(db, [raw.headers["x-request-id"]])
    assert (row["endpoint"], row["provider"], row["end_user"]) == ("responses", "anthropic", "end-user-3")
    assert (row["input_tokens"], row["output_tokens"]) == (fake_claude.INPUT_TOKENS, fake_claude.OUTPUT_TOKENS)
    assert Decimal(row["cost_usd"]) == CLAUDE_COST


def test_an_anthropic_stream_with_a_function_tool_becomes_responses_events(gateway: Any) -> None:
    client, _, claude_fake, db, _ = gateway
    stream = client.responses.create(model=CLAUDE, input="Weather in Paris?", tools=[WEATHER_TOOL], stream=True)
    events = list(stream)
    request_id = stream.response.headers["x-request-id"]
    sent = claude_fake.received[-1]["body"]
    assert sent["stream"] is True
    assert sent["tools"] == [
        {"name": "get_weather", "description": WEATHER_TOOL["description"], "input_schema": WEATHER_TOOL["parameters"]}
    ]
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "response.output_text.delta" in types and "response.function_call_arguments.delta" in types
    assert types[-1] == "response.completed"
    final = events[-1].response  # type: ignore[union-attr]
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output_text == fake_claude.TEXT
    call = final.output[1]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (
        fake_claude.INPUT_TOKENS,
        fake_claude.OUTPUT_TOKENS,
    )
    [row] = ledger_rows(db, [request_id])
    assert (row["endpoint"], row["streamed"], row["provider"]) == ("responses", True, "anthropic")
    assert Decimal(row["cost_usd"]) == CLAUDE_COST


def test_previous_response_id_is_refused_where_the_gateway_would_have_to_keep_state(gateway: Any) -> None:
    client, _, claude_fake, _, _ = gateway
    before = len(claude_fake.received)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=CLAUDE, input="And then?", previous_response_id="resp_123")
    assert refused.value.status_code == 400
    assert refused.value.param == "previous_response_id"  # type: ignore[attr-defined]
    assert "keeps no conversation state" in refused.value.message
    assert len(claude_fake.received) == before  # never sent


def test_an_openai_failure_falls_back_to_a_translated_deployment(gateway: Any) -> None:
    client, gpt_fake, claude_fake, _, _ = gateway
    raw = client.responses.with_raw_response.create(model="gpt-down", input="hi")
    assert gpt_fake.received[-1]["body"]["model"] == "fake-error-500"
    assert claude_fake.received[-1]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert raw.parse().output_text == fake_claude.TEXT
    assert raw.headers["x-oneflow-provider"] == "anthropic"


def test_an_openai_stream_cut_mid_way_ends_with_an_error_event(gateway: Any) -> None:
    client, _, _, db, _ = gateway
    stream = client.responses.create(model="gpt-cut", input="hi", stream=True)
    events = list(stream)
    assert events[-1].type == "error"
    [row] = ledger_rows(db, [stream.response.headers["x-request-id"]])
    assert (row["status"], row["usage_source"]) == ("upstream_error", "counted")


def test_the_sdks_stream_helper_accumulates_a_translated_stream(gateway: Any) -> None:
    client = gateway[0]
    with client.responses.stream(model=CLAUDE, input="Weather in Paris?", tools=[WEATHER_TOOL]) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text == fake_claude.TEXT
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert json.loads(final.output[1].arguments) == {"city": "Paris"}  # type: ignore[union-attr]
