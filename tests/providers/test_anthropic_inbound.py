"""Anthropic Messages inbound translation: golden fixtures each way, the stream encoder, and the SDK's own view.

The `anthropic` SDK is the judge of wire shapes: responses and stream events are validated with its models,
and a real SDK client talks to the translation through `httpx2.MockTransport` (no network).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

from oneflow_ai.errors import InvalidRequest, UpstreamError
from oneflow_ai.providers.anthropic_inbound import (
    MessagesStreamEncoder,
    anthropic_error_body,
    error_event,
    messages_response_from_openai,
    openai_request_from_messages,
)
from oneflow_ai.upstream.sse import SSEParser

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic_inbound"
STREAM_EVENT = TypeAdapter[RawMessageStreamEvent](RawMessageStreamEvent)
ZERO_USAGE = {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}


def fixture(name: str) -> dict[str, Any]:
    case: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())
    return case


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": choices, **extra}


def tool_piece(index: int, arguments: str, *, call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        call |= {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    return chunk({"tool_calls": [call]})


# A realistic OpenAI stream: role chunk, text in pieces, one tool call with argument pieces, finish, usage.
CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me "}),
    chunk({"content": "check."}),
    tool_piece(0, "", call_id="call_1", name="get_weather"),
    tool_piece(0, '{"city":'),
    tool_piece(0, ' "Paris"}'),
    chunk({}, "tool_calls"),
    chunk(usage={"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
                 "prompt_tokens_details": {"cached_tokens": 10}}),
]  # fmt: skip

EXPECTED_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_chatcmpl-s1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": ZERO_USAGE}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "Let me "}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "check."}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": '{"city":'}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": ' "Paris"}'}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                       "usage": {"input_tokens": 20, "cache_creation_input_tokens": 0,
                                 "cache_read_input_tokens": 10, "output_tokens": 12}}),
    ("message_stop", {"type": "message_stop"}),
]  # fmt: skip


def encode(chunks: list[dict[str, Any]], model: str = "claude-x") -> bytes:
    encoder = MessagesStreamEncoder(model)
    frames = [frame for c in chunks for frame in encoder.feed(c)] + encoder.finish()
    return b"".join(frames)


def events(stream: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Our own SSE parser's reading of the bytes, each frame checked for Anthropic's exact framing."""
    frames = stream.split(b"\n\n")
    assert frames.pop() == b""
    for frame in frames:
        name, data = frame.split(b"\n")
        assert name.startswith(b"event: ") and data.startswith(b"data: ")
    parsed = [(str(e.event), orjson.loads(e.data)) for e in SSEParser().feed(stream)]
    assert all(name == data["type"] for name, data in parsed)
    return parsed


# -- request: Anthropic -> OpenAI


def turn(role: str, block: Any) -> dict[str, Any]:
    return {"messages": [{"role": role, "content": [block]}]}


@pytest.mark.parametrize("name", ["request_system_text.json", "request_images.json", "request_tools.json"])
def test_request_golden(name: str) -> None:
    case = fixture(name)
    assert openai_request_from_messages(case["anthropic"]) == case["openai"]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": None}, "model"),
        ({"model": ""}, "model"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": "100"}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0"),
        ({"messages": [{"role": "user"}]}, "messages.0.content"),
        (turn("user", "x"), "messages.0.content.0"),
        (turn("user", {"type": "search_result"}), "messages.0.content.0"),
        (turn("user", {"type": "image", "source": {"type": "file", "file_id": "f"}}), "messages.0.content.0"),
        (turn("user", {"type": "document", "source": {"type": "url", "url": "u"}}), "messages.0.content.0"),
        (
            turn("user", {"type": "tool_result", "content": [{"type": "search_result"}]}),
            "messages.0.content.0.content.0",
        ),
        (turn("assistant", {"type": "server_tool_use"}), "messages.0.content.0"),
        ({"system": [{"type": "image"}]}, "system.0"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0"),
        ({"tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "sometimes"}}, "tool_choice"),
        ({"stream": "yes"}, "stream"),
    ],
)
def test_request_rejects_invalid_fields(change: dict[str, Any], param: str) -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(InvalidRequest) as caught:
        openai_request_from_messages(body)
    assert caught.value.param == param
    assert caught.value.status == 400


def test_request_tool_choice_variants() -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    base = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "tools": tools}

    def choice(tool_choice: dict[str, Any]) -> Any:
        out = openai_request_from_messages({**base, "tool_choice": tool_choice})
        return out["tool_choice"], out.get("parallel_tool_calls")

    assert choice({"type": "auto"}) == ("auto", None)
    assert choice({"type": "none"}) == ("none", None)
    assert choice({"type": "tool", "name": "f"}) == ({"type": "function", "function": {"name": "f"}}, None)
    assert choice({"type": "auto", "disable_parallel_tool_use": True}) == ("auto", False)
    # OpenAI refuses tool_choice without tools, so it is only sent alongside them.
    no_tools = openai_request_from_messages({**base, "tools": [], "tool_choice": {"type": "none"}})
    assert "tool_choice" not in no_tools and "tools" not in no_tools


def test_request_system_role_message_and_document_text_source() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be nice."}]},
            {"role": "user", "content": [{"type": "document", "source": {"type": "text", "data": "notes"}}]},
        ],
    }
    assert openai_request_from_messages(body)["messages"] == [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": [{"type": "text", "text": "notes"}]},
    ]


# -- response: OpenAI -> Anthropic


@pytest.mark.parametrize("name", ["response_text.json", "response_tool_calls.json"])
def test_response_golden(name: str) -> None:
    case = fixture(name)
    translated = messages_response_from_openai(case["openai"], case["requested_model"])
    assert translated == case["anthropic"]
    Message.model_validate(translated, strict=True)


@pytest.mark.parametrize(
    ("finish_reason", "tool_calls", "stop_reason"),
    [
        ("stop", None, "end_turn"),
        ("length", None, "max_tokens"),
        ("content_filter", None, "refusal"),
        (None, None, "end_turn"),
        ("something_new", None, "end_turn"),
        ("tool_calls", [{"id": "c", "function": {"name": "f", "arguments": "{}"}}], "tool_use"),
        ("stop", [{"id": "c", "function": {"name": "f", "arguments": "{}"}}], "tool_use"),
    ],
)
def test_response_stop_reasons(finish_reason: str | None, tool_calls: Any, stop_reason: str) -> None:
    message = {"role": "assistant", "content": "x", "tool_calls": tool_calls}
    body = {"id": "msg_kept", "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]}
    translated = messages_response_from_openai(body, "m")
    assert translated["stop_reason"] == stop_reason
    assert translated["id"] == "msg_kept"
    assert translated["usage"] == ZERO_USAGE


def test_response_refusal_and_missing_ids() -> None:
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    translated = messages_response_from_openai({"choices": [{"message": message, "finish_reason": "stop"}]}, "m")
    assert translated["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert translated["id"].startswith("msg_") and len(translated["id"]) > 4


def test_response_rejects_unparseable_tool_arguments() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"city": "Par'}}
    body = {"choices": [{"message": {"role": "assistant", "tool_calls": [call]}, "finish_reason": "tool_calls"}]}
    with pytest.raises(UpstreamError):
        messages_response_from_openai(body, "m")


# -- stream: OpenAI chunks -> Anthropic events


def test_stream_events_exact() -> None:
    assert events(encode(CHUNKS)) == EXPECTED_EVENTS


def test_stream_accumulates_in_the_sdk() -> None:
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for name, data in events(encode(CHUNKS)):
        event = STREAM_EVENT.validate_python(data)
        assert event.type == name
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None
    final = Message.model_validate(snapshot.to_dict())
    assert [block.to_dict() for block in final.content] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (20, 10, 12)


def test_stream_parallel_tool_calls_and_text_after_tools() -> None:
    chunks = [
        tool_piece(0, '{"a":1}', call_id="call_a", name="f"),
        tool_piece(1, '{"b":', call_id="call_b", name="g"),
        tool_piece(1, "2}"),
        chunk({"content": "done"}, "stop"),  # some servers report "stop" after tool calls
    ]
    got = events(encode(chunks))
    starts = [(d["index"], d["content_block"]["type"]) for n, d in got if n == "content_block_start"]
    stops = [d["index"] for n, d in got if n == "content_block_stop"]
    assert starts == [(0, "tool_use"), (1, "tool_use"), (2, "text")]
    assert stops == [0, 1, 2]
    assert got[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert got[-2][1]["usage"] == ZERO_USAGE  # no usage chunk arrived


def test_stream_without_chunks_is_still_a_whole_message() -> None:
    encoder = MessagesStreamEncoder("m")
    got = [name for name, _ in events(b"".join(encoder.finish()))]
    assert got == ["message_start", "message_delta", "message_stop"]
    assert encoder.finish() == []


def test_stream_ignores_other_choices_and_empty_content() -> None:
    other = {"id": "x", "choices": [{"index": 1, "delta": {"content": "second choice"}, "finish_reason": None}]}
    got = events(encode([chunk({"role": "assistant", "content": ""}), other, chunk({}, "length")]))
    assert [name for name, _ in got] == ["message_start", "message_delta", "message_stop"]
    assert got[1][1]["delta"]["stop_reason"] == "max_tokens"


# -- errors


def test_error_event_framing() -> None:
    assert error_event("upstream went away", "api_error") == (
        b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream went away"}}\n\n'
    )


@pytest.mark.parametrize(
    ("status", "type_"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (405, "invalid_request_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "api_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_anthropic_error_body(status: int, type_: str) -> None:
    body = anthropic_error_body(status, "boom")
    assert body == {"type": "error", "error": {"type": type_, "message": "boom"}}
    if type_ != "request_too_large":  # documented by Anthropic for 413, but absent from the SDK's ErrorObject union
        ErrorResponse.model_validate(body, strict=True)


# -- the real SDK client, through a mock transport


def sdk_client(answer: Callable[[dict[str, Any]], httpx2.Response]) -> anthropic.Anthropic:
    """An SDK client whose requests are translated to OpenAI format and answered by `answer`."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages"
        return answer(openai_request_from_messages(orjson.loads(request.content)))

    transport = httpx2.MockTransport(handler)
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url="http://127.0.0.1:9",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
        _strict_response_validation=True,
    )


WEATHER_TOOL: Any = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}


def test_sdk_client_streams_through_the_translation() -> None:
    def answer(openai_body: dict[str, Any]) -> httpx2.Response:
        assert openai_body["stream"] is True and openai_body["stream_options"] == {"include_usage": True}
        assert openai_body["tools"][0]["function"]["name"] == "get_weather"
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=encode(CHUNKS))

    client = sdk_client(answer)
    user: Any = {"role": "user", "content": "Weather in Paris?"}
    with client.messages.stream(model="claude-x", max_tokens=100, messages=[user], tools=[WEATHER_TOOL]) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert texts == ["Let me ", "check."]
    assert final.model == "claude-x" and final.stop_reason == "tool_use"
    assert final.content[1].type == "tool_use" and final.content[1].input == {"city": "Paris"}
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (20, 10, 12)


def test_sdk_client_reads_a_translated_message() -> None:
    case = fixture("response_tool_calls.json")

    def answer(openai_body: dict[str, Any]) -> httpx2.Response:
        assert "stream" not in openai_body
        return httpx2.Response(200, content=orjson.dumps(messages_response_from_openai(case["openai"], "my-alias")))

    user: Any = {"role": "user", "content": "Weather in Paris?"}
    message = sdk_client(answer).messages.create(model="my-alias", max_tokens=100, messages=[user])
    assert message.to_dict() == case["anthropic"]


def test_sdk_client_raises_typed_errors() -> None:
    def answer(openai_body: dict[str, Any]) -> httpx2.Response:
        return httpx2.Response(429, content=orjson.dumps(anthropic_error_body(429, "slow down")))

    user: Any = {"role": "user", "content": "hi"}
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk_client(answer).messages.create(model="m", max_tokens=10, messages=[user])
    assert caught.value.body == anthropic_error_body(429, "slow down")


def test_sdk_client_raises_on_a_mid_stream_error_event() -> None:
    def answer(openai_body: dict[str, Any]) -> httpx2.Response:
        encoder = MessagesStreamEncoder("m")
        content = b"".join(encoder.feed(CHUNKS[1])) + error_event("upstream went away", "api_error")
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=content)

    user: Any = {"role": "user", "content": "hi"}
    with pytest.raises(anthropic.APIStatusError, match="upstream went away"):
        with sdk_client(answer).messages.stream(model="m", max_tokens=10, messages=[user]) as stream:
            stream.until_done()
