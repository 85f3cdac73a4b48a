"""Issue 16: `POST /v1/messages/count_tokens` with the `anthropic` SDK's `messages.count_tokens`, through the real app.

An Anthropic deployment is asked (the caller's body and headers passed as they came, its answer returned as it came);
an OpenAI deployment's model is counted by the gateway's own tokenizer, and no upstream is called.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from oneflow_ai.pricing import TokenCounter
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes import anthropic_upstream as fake

CLAUDE = "claude-3-haiku-20240307"
SYSTEM = "You are a terse assistant."
MESSAGES: list[Any] = [{"role": "user", "content": "Hello, Claude. How many tokens is this?"}]
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    }
]


@pytest.fixture
def gateway(start_gateway: Any, anthropic_upstream: Any, openai_upstream: Any, tmp_path: Any) -> Any:
    claude_fake, claude_server = anthropic_upstream
    gpt_fake, gpt_server = openai_upstream

    def group(name: str, provider: str, model: str, url: str) -> str:
        deployment = f'{{provider: {provider}, model: {model}, base_url: "{url}", api_key: env:UPSTREAM_KEY}}'
        return f"  - name: {name}\n    deployments: [{deployment}]\n"

    gw = start_gateway(
        config_yaml="models:\n"
        + group(CLAUDE, "anthropic", CLAUDE, claude_server.url)
        + group("claude-down", "anthropic", "claude-error", claude_server.url)
        + group("gpt-4o", "openai", "gpt-4o", gpt_server.url + "/v1"),
        database_url=f"sqlite:///{tmp_path / 'count.db'}",
    )
    client = anthropic.Anthropic(api_key=MASTER_KEY, base_url=gw.url, max_retries=0)
    return client, claude_fake, gpt_fake


def test_an_anthropic_deployment_is_asked_natively(gateway: Any) -> None:
    client, claude_fake, _ = gateway
    raw = client.messages.with_raw_response.count_tokens(
        model=CLAUDE,
        system=SYSTEM,
        messages=MESSAGES,
        tools=TOOLS,
        extra_headers={"anthropic-beta": "token-counting-2024-11-01"},
    )
    assert raw.parse().input_tokens == fake.COUNTED_TOKENS
    assert raw.headers["x-oneflow-token-count"] == "upstream"
    sent = claude_fake.received[-1]
    assert sent["path"] == "/v1/messages/count_tokens"
    assert sent["body"] == {"model": CLAUDE, "system": SYSTEM, "messages": MESSAGES, "tools": TOOLS}
    assert sent["headers"]["anthropic-beta"] == "token-counting-2024-11-01"
    assert sent["headers"]["x-api-key"] == UPSTREAM_KEY  # the deployment's credential, never the caller's


def test_another_provider_is_counted_by_the_gateways_tokenizer(gateway: Any) -> None:
    client, claude_fake, gpt_fake = gateway
    sent_before = len(gpt_fake.received), len(claude_fake.received)
    raw = client.messages.with_raw_response.count_tokens(model="gpt-4o", system=SYSTEM, messages=MESSAGES, tools=TOOLS)
    chat_tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": TOOLS[0]["description"],
                "parameters": TOOLS[0]["input_schema"],
            },
        }
    ]
    chat_messages = [{"role": "system", "content": SYSTEM}, *MESSAGES]
    expected = TokenCounter().count_messages(chat_messages, chat_tools)
    assert raw.parse().input_tokens == expected
    assert expected > TokenCounter().count_messages(chat_messages) > 10  # the tools count, by the tokenizer
    assert raw.headers["x-oneflow-token-count"] == "gateway"
    assert (len(gpt_fake.received), len(claude_fake.received)) == sent_before  # no upstream asked


def test_errors_come_in_anthropics_shape(gateway: Any) -> None:
    client, _, _ = gateway
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.count_tokens(model="no-such-model", messages=MESSAGES)
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as malformed:
        client.messages.count_tokens(model=CLAUDE, messages=[])
    assert malformed.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        client.messages.count_tokens(model="claude-down", messages=MESSAGES)
    assert overloaded.value.status_code >= 500
