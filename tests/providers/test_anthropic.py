"""The Anthropic provider against golden fixtures: OpenAI request -> Messages request, Messages answer ->
`chat.completion`, and a captured Messages SSE stream -> `chat.completion.chunk` frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from oneflow_ai.config.schema import Deployment, Timeouts
from oneflow_ai.errors import (
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
)
from oneflow_ai.providers.anthropic import AnthropicProvider, from_anthropic, to_anthropic
from oneflow_ai.providers.anthropic_stream import AnthropicStream
from oneflow_ai.providers.base import Usage
from oneflow_ai.upstream.sse import SSEParser

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
DEPLOYMENT = Deployment(
    provider="anthropic",
    model="claude-sonnet-4-5-20250929",
    base_url="https://claude.internal/",
    headers={"anthropic-beta": "prompt-caching-2024-07-31"},
    timeouts=Timeouts(read=90),
)
PROVIDER = AnthropicProvider()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def without_created(value: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(value.pop("created"), int)
    return value


# --- requests -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["request_full", "request_minimal"])
def test_openai_request_becomes_the_golden_anthropic_request(case: str) -> None:
    assert to_anthropic(fixture(f"{case}.openai.json")) == fixture(f"{case}.anthropic.json")


def test_chat_request_posts_to_messages_with_anthropic_headers() -> None:
    body = fixture("request_minimal.openai.json")
    request = PROVIDER.chat_request(body, DEPLOYMENT, stream=True)
    assert "x-api-key" not in request.headers  # translation sets no credential: the deployment's `Auth` does
    PROVIDER.auth(DEPLOYMENT, {"ANTHROPIC_API_KEY": "sk-ant-secret"}).apply(request)
    assert (request.method, request.url) == ("POST", "https://claude.internal/v1/messages")
    assert dict(request.headers) == {
        "x-api-key": "sk-ant-secret",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "anthropic-beta": "prompt-caching-2024-07-31",
    }
    assert json.loads(request.body) == {**fixture("request_minimal.anthropic.json"), "stream": True}
    assert (request.timeouts.read, request.provider) == (90, "anthropic")
    unkeyed = PROVIDER.chat_request(body, DEPLOYMENT, stream=False)
    PROVIDER.auth(DEPLOYMENT, {}).apply(unkeyed)
    assert "x-api-key" not in unkeyed.headers


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, True, None),
        (None, None, None),
    ],
)
def test_tool_choice(tool_choice: Any, parallel: Any, expected: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    body["tools"] = [{"type": "function", "function": {"name": "f"}}]
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    assert to_anthropic(body).get("tool_choice") == expected


def test_tool_choice_without_tools_is_not_sent() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto", "tools": []}
    assert "tool_choice" not in to_anthropic(body) and "tools" not in to_anthropic(body)


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}, "messages[0].content[0]"),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]},
            "messages[0].content[0].image_url",
        ),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]},
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
def test_requests_anthropic_cannot_serve_are_refused(message: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_anthropic({"model": "m", "messages": [message]})
    assert info.value.param == param


def test_non_function_tools_and_several_choices_are_refused() -> None:
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(InvalidRequest, match="only function tools"):
        to_anthropic({"model": "m", "messages": messages, "tools": [{"type": "custom", "custom": {"name": "x"}}]})
    with pytest.raises(InvalidRequest) as info:
        to_anthropic({"model": "m", "messages": messages, "n": 2})
    assert info.value.param == "n"


# --- responses ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "usage"),
    [
        (
            "response_tool_use",
            Usage(prompt_tokens=1650, completion_tokens=64, cached_tokens=1200, cache_write_tokens=100),
        ),
        ("response_text", Usage(prompt_tokens=14, completion_tokens=10)),
    ],
)
def test_anthropic_response_becomes_the_golden_openai_completion(case: str, usage: Usage) -> None:
    raw = (FIXTURES / f"{case}.anthropic.json").read_bytes()
    result = PROVIDER.chat_response(raw, DEPLOYMENT)
    completion = json.loads(result.body)
    ChatCompletion.model_validate(completion)
    assert without_created(completion) == fixture(f"{case}.openai.json")
    assert result.usage == usage
    assert result.model == fixture(f"{case}.anthropic.json")["model"]


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls")],
)
def test_stop_reasons(stop_reason: str, finish_reason: str) -> None:
    response = {"id": "msg_1", "model": "c", "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    assert from_anthropic(response, created=0)["choices"][0]["finish_reason"] == finish_reason


def test_a_body_that_is_not_a_message_is_an_upstream_error() -> None:
    for body in (b"<html>bad gateway</html>", b'{"type": "error", "error": {"message": "x"}}'):
        with pytest.raises(UpstreamError):
            PROVIDER.chat_response(body, DEPLOYMENT)


# --- streams --------------------------------------------------------------------------------------------------


def pieces(data: bytes, sizes: tuple[int, ...]) -> list[bytes]:
    """`data` cut into pieces of the given sizes, cycling, so events and UTF-8 characters are split mid-way."""
    out, start, i = [], 0, 0
    while start < len(data):
        out.append(data[start : start + sizes[i % len(sizes)]])
        start += sizes[i % len(sizes)]
        i += 1
    return out


def run_stream(translator: AnthropicStream, raw: bytes, sizes: tuple[int, ...]) -> list[bytes]:
    parser = SSEParser()
    frames: list[bytes] = []
    for piece in pieces(raw, sizes):
        for event in parser.feed(piece):
            frames += translator.feed(event)
    for event in parser.flush():
        frames += translator.feed(event)
    return frames + translator.finish()


def decoded(frames: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for item in frames:
        assert item.startswith(b"data: ") and item.endswith(b"\n\n"), item
        payload = item[len(b"data: ") : -2]
        if payload == b"[DONE]":
            out.append("[DONE]")
        else:
            chunk = json.loads(payload)
            ChatCompletionChunk.model_validate(chunk)
            out.append(without_created(chunk))
    return out


@pytest.mark.parametrize("sizes", [(1, 7, 3, 29, 2, 64, 11), (5, 113, 17), (100_000,)])
@pytest.mark.parametrize(
    ("case", "wants_usage", "usage", "text"),
    [
        ("stream_text", True, Usage(25, 12), "Bonjour ! Il fait 18°C à Paris."),
        (
            "stream_tool_use",
            False,
            Usage(2520, 89, cached_tokens=2048),
            'Let me check both cities.{"city": "Paris"}{"city": "Lyon", "unit": "celsius"}',
        ),
    ],
)
def test_anthropic_stream_becomes_the_golden_openai_chunks(
    case: str, wants_usage: bool, usage: Usage, text: str, sizes: tuple[int, ...]
) -> None:
    translator = PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=wants_usage)
    frames = run_stream(translator, (FIXTURES / f"{case}.sse").read_bytes(), sizes)
    assert decoded(frames) == fixture(f"{case}.openai.json")
    assert translator.usage == usage
    assert translator.completion_text() == text


def test_stream_usage_is_known_from_message_start_before_the_end() -> None:
    raw = (FIXTURES / "stream_tool_use.sse").read_bytes()
    first_event = raw[: raw.index(b"\n\n") + 2]
    translator = PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=True)
    [event] = SSEParser().feed(first_event)
    translator.feed(event)
    assert translator.usage == Usage(2520, 2, cached_tokens=2048)


def test_an_error_event_mid_stream_raises_with_the_upstream_message() -> None:
    raw = (FIXTURES / "stream_text.sse").read_bytes()
    cut = raw.index(b"event: content_block_stop")
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    translator = PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=True)
    with pytest.raises(UpstreamError, match="Overloaded") as info:
        run_stream(translator, raw[:cut] + error, (13,))
    assert info.value.provider == "anthropic"
    assert translator.completion_text() == "Bonjour ! Il fait 18°C à Paris."


def test_a_stream_cut_before_message_stop_fails_in_finish() -> None:
    raw = (FIXTURES / "stream_text.sse").read_bytes()
    translator = PROVIDER.chat_stream(DEPLOYMENT, client_wants_usage=False)
    with pytest.raises(UpstreamError, match="message_stop"):
        run_stream(translator, raw[: raw.index(b"event: message_delta")], (40,))


# --- errors ---------------------------------------------------------------------------------------------------


def anthropic_error_body(type_: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": type_, "message": message}}).encode()


def test_overloaded_is_retryable_and_keeps_message_and_retry_after() -> None:
    err = PROVIDER.error(529, anthropic_error_body("overloaded_error", "Overloaded"), {"retry-after": "7"}, DEPLOYMENT)
    assert type(err) is UpstreamError
    assert (err.retryable, err.status, err.upstream_status, err.retry_after) == (True, 502, 529, 7.0)
    assert err.message == "anthropic: Overloaded"


def test_rate_limited_keeps_retry_after() -> None:
    body = anthropic_error_body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
    err = PROVIDER.error(429, body, {"Retry-After": "30"}, DEPLOYMENT)
    assert isinstance(err, UpstreamRateLimited) and err.retry_after == 30.0 and "per-minute rate limit" in err.message
    assert err.headers == {"retry-after": "30"}  # answered to the client as sent when no deployment serves


def test_prompt_too_long_is_context_window_exceeded() -> None:
    body = anthropic_error_body("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum")
    err = PROVIDER.error(400, body, {}, DEPLOYMENT)
    assert isinstance(err, ContextWindowExceeded) and err.retryable
    assert err.message == "prompt is too long: 208310 tokens > 200000 maximum"


@pytest.mark.parametrize(("status", "type_"), [(401, "authentication_error"), (403, "permission_error")])
def test_a_refused_key_is_the_deployments_failure_without_the_upstream_message(status: int, type_: str) -> None:
    body = anthropic_error_body(type_, "invalid x-api-key: sk-ant-api03-...abcd")
    err = PROVIDER.error(status, body, {}, DEPLOYMENT.model_copy(update={"id": "claude/1"}))
    assert isinstance(err, UpstreamAuthFailed) and err.retryable and not err.deployment_retryable
    assert (err.status, err.code, err.upstream_status) == (502, "upstream_auth_failed", status)
    assert err.message == f"The provider rejected the gateway's credentials for deployment 'claude/1' (HTTP {status})."


def test_other_client_errors_are_rejected_with_the_upstream_message() -> None:
    body = anthropic_error_body("invalid_request_error", "messages: roles must alternate")
    err = PROVIDER.error(400, body, {}, DEPLOYMENT)
    assert isinstance(err, UpstreamRejected) and not err.retryable and err.status == 400
    assert err.message == "anthropic: messages: roles must alternate" and err.retry_after is None
    not_json = PROVIDER.error(502, b"upstream connect error", {}, DEPLOYMENT)
    assert not_json.retryable and not_json.message == "anthropic: upstream connect error"
