"""Bedrock end to end: the `openai` SDK drives chat (streamed and not, with tools) through the real app over HTTP
against a fake Bedrock runtime that speaks Converse / ConverseStream (binary event-stream with its CRCs) and checks
each request's SigV4 signature with botocore as AWS would; each call has its ledger row with exact tokens and cost.

The fake reads `CACHE_READ` tokens from its prompt cache when the request has a system prompt, so the worked
example prices a cache read: claude-3-haiku on Bedrock (catalog: $0.25 input, $0.03 cached input, $1.25 output per
million tokens), 31 new input tokens + 1024 cached + 12 output tokens =
31 x 0.25 + 1024 x 0.03 + 12 x 1.25 = 7.75 + 30.72 + 15 = 53.47 millionths of a dollar.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from oneflow_ai.app import create_app
from oneflow_ai.config.schema import Deployment, Timeouts
from oneflow_ai.providers.bedrock import BedrockProvider
from oneflow_ai.settings import Settings
from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY
from tests.fakes import bedrock_upstream as fake
from tests.fakes.runner import AiohttpServer, UvicornServer

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
KEY, SECRET = "AKIDFAKEBEDROCK", "fake/secret+key"
TEMP_KEY, TEMP_SECRET, TOKEN = "ASIAFAKETEMP", "temporary-secret", "FwoGZXIvYXdzEFAKEsessiontoken"
ENV = {
    "AWS_ACCESS_KEY_ID": KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "TEAM_KEY": TEMP_KEY,
    "TEAM_SECRET": TEMP_SECRET,
    "TEAM_TOKEN": TOKEN,
    "WRONG_SECRET": "not-the-secret",
}
COST = Decimal("0.00005347")
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "top_song",
            "description": "Get the most popular song played on a radio station.",
            "parameters": {"type": "object", "properties": {"sign": {"type": "string"}}, "required": ["sign"]},
        },
    }
]
MESSAGES: Any = [
    {"role": "system", "content": "You are an app that creates playlists for a radio station."},
    {"role": "user", "content": "What is the most popular song on WZPZ?"},
]


@pytest.fixture(scope="module")
def bedrock() -> Iterator[tuple[fake.BedrockUpstream, AiohttpServer]]:
    upstream = fake.BedrockUpstream({KEY: (SECRET, None), TEMP_KEY: (TEMP_SECRET, TOKEN)})
    server = AiohttpServer(upstream.app)
    yield upstream, server
    server.stop()


@pytest.fixture(scope="module")
def gateway(
    bedrock: tuple[fake.BedrockUpstream, AiohttpServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(the gateway's URL, its database URL)."""
    url = bedrock[1].url
    tmp = tmp_path_factory.mktemp("bedrock")
    price = '{input_per_million: "1", output_per_million: "2"}'
    config = tmp / "config.yaml"
    config.write_text(
        f"""
routing: {{max_attempts: 1}}
models:
  - name: haiku
    deployments:
      - {{provider: bedrock, model: "{HAIKU}", region: us-east-1, base_url: "{url}"}}
  - name: haiku-temporary
    deployments:
      - provider: bedrock
        model: "{HAIKU}"
        region: us-east-1
        base_url: "{url}"
        aws_access_key_id: env:TEAM_KEY
        aws_secret_access_key: env:TEAM_SECRET
        aws_session_token: env:TEAM_TOKEN
  - name: haiku-wrong-secret
    deployments:
      - {{provider: bedrock, model: "{HAIKU}", region: us-east-1, base_url: "{url}",
          aws_secret_access_key: env:WRONG_SECRET}}
  - name: throttled
    deployments:
      - {{provider: bedrock, model: "anthropic.throttled-v1:0", region: us-east-1, base_url: "{url}", price: {price}}}
  - name: stream-error
    deployments:
      - {{provider: bedrock, model: "anthropic.stream-error-v1:0", region: us-east-1, base_url: "{url}",
          price: {price}}}
"""
    )
    database_url = f"sqlite:///{tmp / 'oneflow.db'}"
    settings = Settings(
        config_path=str(config),
        data_dir=tmp / "data",
        master_key=MASTER_KEY,
        database_url=database_url,
        ledger_interval_s=0.05,
    )
    server = UvicornServer(lambda: create_app(settings, ENV))
    try:
        yield server.url, database_url
    finally:
        server.stop()


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=MASTER_KEY, base_url=url + "/v1", max_retries=0)


def assert_charged(row: dict[str, Any], *, streamed: bool) -> None:
    assert (row["status"], row["http_status"], row["provider"], row["served_model"]) == ("ok", 200, "bedrock", HAIKU)
    assert (row["input_tokens"], row["cached_tokens"], row["output_tokens"]) == (
        fake.INPUT_TOKENS + fake.CACHE_READ,
        fake.CACHE_READ,
        fake.OUTPUT_TOKENS,
    )
    assert Decimal(row["cost_usd"]) == COST and row["streamed"] is streamed


# --- the fake checks signatures as AWS does -------------------------------------------------------------------


def signed(url: str, secret: str, body: bytes) -> tuple[str, dict[str, str]]:
    deployment = Deployment(provider="bedrock", model=HAIKU, region="us-east-1", base_url=url, timeouts=Timeouts())
    provider = BedrockProvider()
    request = provider.chat_request({"model": HAIKU, "messages": MESSAGES}, deployment, stream=False)
    request.body = body
    provider.auth(deployment, {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": secret}).apply(request)
    return request.url, request.headers


def test_the_fake_verifies_sigv4_and_refuses_a_wrong_secret(bedrock: tuple[fake.BedrockUpstream, Any]) -> None:
    url = bedrock[1].url
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
    target, headers = signed(url, SECRET, body)
    assert httpx.post(target, headers=headers, content=body).status_code == 200
    target, headers = signed(url, "not-the-secret", body)
    refused = httpx.post(target, headers=headers, content=body)
    assert refused.status_code == 403
    assert refused.json() == {"message": fake.SIGNATURE_MISMATCH}
    assert refused.headers["x-amzn-errortype"].startswith("InvalidSignatureException:")
    target, headers = signed(url, SECRET, body)
    changed = httpx.post(target, headers=headers, content=body.replace(b"hi", b"ho"))  # the body's hash is signed
    assert changed.status_code == 403 and changed.json()["message"] == fake.SIGNATURE_MISMATCH
    unsigned = httpx.post(target, headers={"content-type": "application/json"}, content=body)
    assert unsigned.status_code == 403


# --- through the gateway --------------------------------------------------------------------------------------


def test_chat_with_tools_then_the_tool_result(
    gateway: tuple[str, str], bedrock: tuple[fake.BedrockUpstream, Any]
) -> None:
    url, database_url = gateway
    raw = client(url).chat.completions.with_raw_response.create(model="haiku", messages=MESSAGES, tools=TOOLS)
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "tooluse_fake1",
        "top_song",
        {"sign": "WZPZ"},
    )
    sent = bedrock[0].received[-1]
    assert sent["path"] == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert sent["headers"]["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY}/")
    assert sent["body"]["system"] == [{"text": MESSAGES[0]["content"]}]
    assert (
        sent["body"]["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == TOOLS[0]["function"]["parameters"]
    )
    assert completion.usage is not None and completion.usage.prompt_tokens == fake.INPUT_TOKENS + fake.CACHE_READ

    follow_up = [
        *MESSAGES,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"song": "Elemental Hotel", "artist": "8 Storey Hike"}'},
    ]
    raw_answer = client(url).chat.completions.with_raw_response.create(model="haiku", messages=follow_up, tools=TOOLS)
    answer = raw_answer.parse()
    assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == (fake.TEXT, "stop")
    turns = bedrock[0].received[-1]["body"]["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[2]["content"][0]["toolResult"]["toolUseId"] == "tooluse_fake1"
    ids = [raw.headers["x-request-id"], raw_answer.headers["x-request-id"]]
    rows = ledger_rows(database_url, ids)
    assert len(rows) == 2
    for row in rows:
        assert_charged(row, streamed=False)


def test_streamed_chat_with_tools_and_text(gateway: tuple[str, str], bedrock: tuple[fake.BedrockUpstream, Any]) -> None:
    url, database_url = gateway
    ids = []
    with client(url).chat.completions.with_streaming_response.create(
        model="haiku", messages=MESSAGES, tools=TOOLS, stream=True, stream_options={"include_usage": True}
    ) as streamed:
        ids.append(streamed.headers["x-request-id"])
        chunks = list(streamed.parse())
    assert bedrock[0].received[-1]["path"].endswith("/converse-stream")
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    assert (calls[0].id, calls[0].function and calls[0].function.name) == ("tooluse_fake2", "top_song")
    arguments = "".join(t.function.arguments or "" for t in calls if t.function)
    assert json.loads(arguments) == {"sign": "WZPZ"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details.cached_tokens) == (
        fake.INPUT_TOKENS + fake.CACHE_READ,
        fake.OUTPUT_TOKENS,
        fake.CACHE_READ,
    )
    with client(url).chat.completions.with_streaming_response.create(
        model="haiku", messages=MESSAGES, stream=True
    ) as streamed:
        ids.append(streamed.headers["x-request-id"])
        chunks = list(streamed.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake.TEXT
    assert chunks[-1].choices[0].finish_reason == "stop"
    rows = ledger_rows(database_url, ids)
    assert len(rows) == 2
    for row in rows:
        assert_charged(row, streamed=True)


def test_temporary_credentials_from_references(
    gateway: tuple[str, str], bedrock: tuple[fake.BedrockUpstream, Any]
) -> None:
    answer = client(gateway[0]).chat.completions.create(model="haiku-temporary", messages=MESSAGES[1:])
    assert answer.choices[0].message.content == fake.TEXT
    headers = bedrock[0].received[-1]["headers"]
    assert headers["x-amz-security-token"] == TOKEN and f"Credential={TEMP_KEY}/" in headers["authorization"]


def test_a_wrong_secret_is_the_deployments_auth_failure(gateway: tuple[str, str]) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client(gateway[0]).chat.completions.create(model="haiku-wrong-secret", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "upstream_auth_failed"


def test_throttling_reaches_the_client_as_429_with_its_message(gateway: tuple[str, str]) -> None:
    url, database_url = gateway
    for stream in (False, True):
        with pytest.raises(openai.RateLimitError) as caught:
            client(url).chat.completions.create(model="throttled", messages=MESSAGES, stream=stream)
        assert caught.value.status_code == 429
        assert "Too many requests, please wait before trying again." in caught.value.message
        rows = ledger_rows(database_url, [caught.value.response.headers["x-request-id"]])
        assert (rows[0]["http_status"], rows[0]["provider"], rows[0]["cost_usd"]) == (429, "bedrock", 0)


def test_an_exception_mid_stream_ends_it_with_the_error(gateway: tuple[str, str]) -> None:
    url, database_url = gateway
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    body = {"model": "stream-error", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", url + "/v1/chat/completions", headers=auth, json=body, timeout=30) as r:
        request_id = r.headers["x-request-id"]
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    assert events[1]["choices"][0]["delta"]["content"] == fake.PIECES[0]
    assert events[-1]["error"]["message"] == "bedrock: The model stopped."
    rows = ledger_rows(database_url, [request_id])
    assert (rows[0]["status"], rows[0]["provider"]) == ("upstream_error", "bedrock")


def test_anthropic_messages_served_by_bedrock(gateway: tuple[str, str]) -> None:
    """`/v1/messages` (the `anthropic` SDK) served by a Bedrock deployment: translated through OpenAI's form."""
    import anthropic

    url, database_url = gateway
    sdk = anthropic.Anthropic(api_key=MASTER_KEY, base_url=url, max_retries=0)
    raw = sdk.messages.with_raw_response.create(
        model="haiku", max_tokens=100, system=MESSAGES[0]["content"], messages=[MESSAGES[1]]
    )
    message = raw.parse()
    assert (message.content[0].type, message.stop_reason) == ("text", "end_turn")
    assert message.content[0].text == fake.TEXT
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (fake.INPUT_TOKENS, fake.CACHE_READ)
    assert_charged(ledger_rows(database_url, [raw.headers["x-request-id"]])[0], streamed=False)
