"""The Bedrock provider against golden fixtures (`fixtures/bedrock`, in the shapes AWS documents: the tool-use
guide's `top_song` exchange, the Converse API reference, the prompt-caching guide's usage): OpenAI request ->
Converse request, Converse answer -> `chat.completion`, ConverseStream events (framed as AWS event-stream, split
at every offset) -> `chat.completion.chunk` frames; Bedrock's errors; the deployment's own fields and signing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import (
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
)
from oneflow_ai.providers.auth import BearerAuth, NoAuth
from oneflow_ai.providers.bedrock import BedrockProvider
from oneflow_ai.providers.bedrock.converse import finish_reason, from_converse, to_converse
from oneflow_ai.providers.bedrock.sigv4 import SigV4Auth
from oneflow_ai.providers.bedrock.stream import ConverseStream
from oneflow_ai.upstream.event_stream import EventStreamDecoder
from tests.fakes import event_stream

FIXTURES = Path(__file__).parent / "fixtures" / "bedrock"
MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
DEPLOYMENT = Deployment(provider="bedrock", model=MODEL, region="eu-central-1", headers={"x-team": "search"})
PROVIDER = BedrockProvider()
ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --- requests -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["request_tools", "request_image"])
def test_openai_request_becomes_the_golden_converse_request(case: str) -> None:
    assert to_converse(fixture(f"{case}.openai.json")) == fixture(f"{case}.converse.json")


@pytest.mark.parametrize("stream", [False, True])
def test_chat_request_posts_to_the_regional_converse_endpoint_signed(stream: bool) -> None:
    request = PROVIDER.chat_request(fixture("request_tools.openai.json"), DEPLOYMENT, stream=stream)
    operation = "converse-stream" if stream else "converse"
    # the model id is one path segment, its ':' percent-encoded (as boto3 sends it)
    assert request.url == (
        f"https://bedrock-runtime.eu-central-1.amazonaws.com/model/anthropic.claude-3-sonnet-20240229-v1%3A0/{operation}"
    )
    assert json.loads(request.body) == fixture("request_tools.converse.json")
    assert "authorization" not in request.headers  # translation signs nothing: the deployment's `Auth` does
    auth = PROVIDER.auth(DEPLOYMENT, ENV)
    assert isinstance(auth, SigV4Auth) and "wJalr" not in repr(auth)
    auth.apply(request)
    assert request.headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + request.headers["x-amz-date"][:8] + "/eu-central-1/bedrock/"
    )
    assert "SignedHeaders=accept;content-type;host;x-amz-date;x-team," in request.headers["authorization"]
    assert request.headers["accept"] == ("application/vnd.amazon.eventstream" if stream else "application/json")


def test_credentials_from_references_with_a_session_token_and_base_url_override() -> None:
    deployment = Deployment(
        provider="bedrock",
        model=MODEL,
        region="us-west-2",
        base_url="http://127.0.0.1:9/",
        aws_access_key_id="env:TEAM_KEY",
        aws_secret_access_key="env:TEAM_SECRET",
        aws_session_token="env:TEAM_TOKEN",
    )
    assert deployment.url == "http://127.0.0.1:9"
    request = PROVIDER.chat_request(
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, deployment, stream=False
    )
    PROVIDER.auth(deployment, {**ENV, "TEAM_KEY": "AKIDTEAM", "TEAM_SECRET": "s3cr3t", "TEAM_TOKEN": "tok"}).apply(
        request
    )
    assert "Credential=AKIDTEAM/" in request.headers["authorization"]
    assert "/us-west-2/bedrock/aws4_request" in request.headers["authorization"]
    assert request.headers["x-amz-security-token"] == "tok"
    assert request.url == f"http://127.0.0.1:9/model/{MODEL.replace(':', '%3A')}/converse"
    assert isinstance(PROVIDER.auth(deployment, ENV), NoAuth)  # its references name unset variables
    keyed = Deployment(provider="bedrock", model=MODEL, region="us-east-1", api_key="env:AWS_BEARER_TOKEN_BEDROCK")
    assert isinstance(PROVIDER.auth(keyed, {"AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key"}), BearerAuth)


def test_each_request_is_signed_anew() -> None:
    auth = PROVIDER.auth(DEPLOYMENT, ENV)
    one = PROVIDER.chat_request(
        {"model": MODEL, "messages": [{"role": "user", "content": "a"}]}, DEPLOYMENT, stream=False
    )
    two = PROVIDER.chat_request(
        {"model": MODEL, "messages": [{"role": "user", "content": "b"}]}, DEPLOYMENT, stream=False
    )
    auth.apply(one)
    auth.apply(two)
    assert one.headers["authorization"] != two.headers["authorization"]  # the body's hash is signed


@pytest.mark.parametrize(
    ("settings", "message"),
    [({}, "region"), ({"region": "US East"}, "region"), ({"region": "us-east-1", "api_version": "x"}, "azure")],
)
def test_deployment_fields_are_checked_at_load(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Deployment.model_validate({"provider": "bedrock", "model": MODEL, **settings})


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "f"}}, {"tool": {"name": "f"}}),
        (None, None),
    ],
)
def test_tool_choice(tool_choice: Any, expected: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    body["tools"] = [{"type": "function", "function": {"name": "f"}}]
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    config = to_converse(body)["toolConfig"]
    assert config["tools"] == [
        {"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object", "properties": {}}}}}
    ]
    assert config.get("toolChoice") == expected


def test_tool_choice_none_leaves_the_tools_out_unless_the_conversation_uses_them() -> None:
    tools = [{"type": "function", "function": {"name": "top_song"}}]
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools, "tool_choice": "none"}
    assert "toolConfig" not in to_converse(body)
    history = fixture("request_tools.openai.json")["messages"]
    config = to_converse({**body, "messages": history})["toolConfig"]
    assert "toolChoice" not in config and config["tools"][0]["toolSpec"]["name"] == "top_song"


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}, "messages[0].content[0]"),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            "messages[0].content[0].image_url",
        ),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]},
            "messages[0].content[0].image_url",
        ),
        (
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]},
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"role": "tool", "content": "no id"}, "messages[0].tool_call_id"),
        ({"role": "function", "name": "f", "content": "x"}, "messages[0].role"),
    ],
)
def test_untranslatable_requests_are_refused(message: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_converse({"model": "m", "messages": [message]})
    assert caught.value.param == param and caught.value.status == 400


def test_n_above_one_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="n must be 1"):
        to_converse({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2})


# --- answers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["response_tool_use", "response_cached_text"])
def test_converse_answer_becomes_the_golden_completion(case: str) -> None:
    completion = from_converse(fixture(f"{case}.converse.json"), model=MODEL, completion_id="chatcmpl-fixed", created=7)
    assert completion.pop("created") == 7
    assert completion == fixture(f"{case}.openai.json")
    ChatCompletion.model_validate({**completion, "created": 7})  # the openai SDK's own type accepts it


def test_chat_response_keeps_cache_reads_and_writes() -> None:
    body = json.dumps(fixture("response_cached_text.converse.json")).encode()
    result = PROVIDER.chat_response(body, DEPLOYMENT)
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (6007, 14)
    assert (result.usage.cached_tokens, result.usage.cache_write_tokens) == (0, 6003)
    assert result.parsed["id"].startswith("chatcmpl-") and result.model == MODEL
    with pytest.raises(UpstreamError, match="not a Converse answer"):
        PROVIDER.chat_response(b'{"message": "odd"}', DEPLOYMENT)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("tool_use", "tool_calls"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons(stop_reason: str, finish: str) -> None:
    assert finish_reason(stop_reason) == finish


# --- streams --------------------------------------------------------------------------------------------------


def stream_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(event_stream.event(e["event"], e["data"]) for e in events)


def translate(chunks: list[bytes], *, wants_usage: bool = True) -> tuple[list[dict[str, Any]], ConverseStream]:
    decoder = EventStreamDecoder("bedrock")
    stream = ConverseStream(
        "bedrock", model=MODEL, completion_id="chatcmpl-s", created=1, client_wants_usage=wants_usage
    )
    frames: list[bytes] = []
    for chunk in chunks:
        for event in decoder.feed(chunk):
            frames += stream.feed(event)
    for event in decoder.flush():
        frames += stream.feed(event)
    frames += stream.finish()
    assert frames[-1] == b"data: [DONE]\n\n"
    return [json.loads(f[6:]) for f in frames[:-1]], stream


def test_stream_becomes_the_golden_chunks_split_at_every_offset() -> None:
    raw = stream_bytes(fixture("stream_tool_use.events.json"))
    expected = fixture("stream_tool_use.openai.json")
    for cut in range(len(raw) + 1):
        chunks, stream = translate([raw[:cut], raw[cut:]])
        for chunk in chunks:
            ChatCompletionChunk.model_validate(chunk)
            assert (chunk["id"], chunk["model"], chunk["object"]) == ("chatcmpl-s", MODEL, "chat.completion.chunk")
        got = [
            {"delta": c["choices"][0]["delta"], "finish_reason": c["choices"][0]["finish_reason"]}
            if c["choices"]
            else {"usage": c["usage"]}
            for c in chunks
        ]
        assert got == expected, cut
    assert stream.usage is not None and (stream.usage.cached_tokens, stream.usage.prompt_tokens) == (1200, 1575)
    assert stream.completion_text() == 'Let me check.{"sign": "WZPZ"}'


def test_stream_without_usage_asked_sends_no_usage_chunk() -> None:
    chunks, stream = translate([stream_bytes(fixture("stream_tool_use.events.json"))], wants_usage=False)
    assert all(c["choices"] for c in chunks) and stream.usage is not None


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("throttlingException", UpstreamRateLimited, 429),
        ("validationException", UpstreamRejected, 400),
        ("modelStreamErrorException", UpstreamError, 502),
        ("internalServerException", UpstreamError, 502),
        ("serviceUnavailableException", UpstreamError, 502),
    ],
)
def test_an_exception_in_the_stream_is_the_upstreams_error_with_its_message(
    kind: str, error: type[UpstreamError], status: int
) -> None:
    events = fixture("stream_tool_use.events.json")[:3]
    raw = stream_bytes(events) + event_stream.exception(kind, "Model is busy. Retry later.")
    with pytest.raises(error) as caught:
        translate([raw])
    assert type(caught.value) is error and caught.value.status == status
    assert caught.value.message == "bedrock: Model is busy. Retry later."


def test_a_stream_that_ends_before_message_stop_is_an_error() -> None:
    raw = stream_bytes(fixture("stream_tool_use.events.json")[:3])
    with pytest.raises(UpstreamError, match="before messageStop"):
        translate([raw])


# --- errors ---------------------------------------------------------------------------------------------------


def test_throttling_is_a_rate_limit_with_its_message_and_retry_after() -> None:
    case = fixture("error_throttling.json")
    error = PROVIDER.error(case["status"], json.dumps(case["body"]).encode(), case["headers"], DEPLOYMENT)
    assert isinstance(error, UpstreamRateLimited) and error.status == 429
    assert error.message == "bedrock: Too many requests, please wait before trying again."
    assert (error.retry_after, error.headers["retry-after"]) == (3.0, "3")


@pytest.mark.parametrize(
    ("status", "kind", "message", "error", "client_status"),
    [
        (400, "ValidationException", "Malformed input request, please reformat your input and try again.",
         UpstreamRejected, 400),
        (400, "ValidationException", "Input is too long for requested model.", ContextWindowExceeded, 400),
        (403, "AccessDeniedException", "You don't have access to the model with the specified model ID.",
         UpstreamAuthFailed, 502),
        (408, "ModelTimeoutException", "Model has timed out in processing the request.", UpstreamError, 502),
        (503, "ServiceUnavailableException", "Bedrock is unable to process your request.", UpstreamError, 502),
        (404, "ResourceNotFoundException", "Could not resolve the foundation model.", UpstreamRejected, 404),
    ],
)  # fmt: skip
def test_bedrock_errors(status: int, kind: str, message: str, error: type[Exception], client_status: int) -> None:
    headers = {"x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    got = PROVIDER.error(status, json.dumps({"message": message}).encode(), headers, DEPLOYMENT)
    assert type(got) is error and got.status == client_status
    if error is not UpstreamAuthFailed:  # a refused credential's message is never kept (it may quote the key)
        assert message in got.message


def test_without_the_bedrock_extra_the_config_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "botocore" else real(name, *a))
    with pytest.raises(ValueError, match=r"pip install 'oneflow-ai\[bedrock\]'"):
        Deployment(provider="bedrock", model=MODEL, region="us-east-1")


def test_parallel_tool_uses_are_numbered_in_order_and_one_without_input_gets_empty_arguments() -> None:
    def start(index: int, name: str) -> dict[str, Any]:
        use = {"toolUseId": f"tooluse_{name}", "name": name}
        return {"event": "contentBlockStart", "data": {"contentBlockIndex": index, "start": {"toolUse": use}}}

    def piece(index: int, text: str) -> dict[str, Any]:
        delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": text}}}
        return {"event": "contentBlockDelta", "data": delta}

    events = [
        {"event": "messageStart", "data": {"role": "assistant"}},
        start(1, "now"),
        {"event": "contentBlockStop", "data": {"contentBlockIndex": 1}},
        start(2, "weather"),
        piece(2, '{"city": "Paris"}'),
        {"event": "contentBlockStop", "data": {"contentBlockIndex": 2}},
        {"event": "messageStop", "data": {"stopReason": "tool_use"}},
    ]
    chunks, _ = translate([stream_bytes(events)], wants_usage=False)
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"].get("tool_calls") or ():
            entry = calls.setdefault(call["index"], {"name": "", "arguments": ""})
            entry["name"] += call.get("function", {}).get("name") or ""
            entry["arguments"] += call.get("function", {}).get("arguments") or ""
    assert calls == {0: {"name": "now", "arguments": "{}"}, 1: {"name": "weather", "arguments": '{"city": "Paris"}'}}
