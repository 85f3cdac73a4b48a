"""The Responses API translated to and from chat completions: golden cases from OpenAI's documented examples
(`fixtures/responses`), the stream encoder, and the refusals. The `openai` SDK's own models judge the wire shapes:
each translated `response` and each stream event is validated with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from oneflow_ai.errors import InvalidRequest, Untranslatable
from oneflow_ai.providers.responses_reply import responses_from_chat
from oneflow_ai.providers.responses_request import chat_from_responses, stand_in_for_responses
from oneflow_ai.providers.responses_stream import ResponsesStreamEncoder
from oneflow_ai.upstream.sse import SSEParser

FIXTURES = Path(__file__).parent / "fixtures" / "responses"
STREAM_EVENT = TypeAdapter[ResponseStreamEvent](ResponseStreamEvent)


def cases(name: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = orjson.loads((FIXTURES / name).read_bytes())
    return loaded


@pytest.mark.parametrize("case", cases("requests.json"), ids=lambda c: c["name"])
def test_documented_requests_become_chat_bodies(case: dict[str, Any]) -> None:
    assert chat_from_responses(case["responses"]) == case["chat"]


@pytest.mark.parametrize("case", cases("replies.json"), ids=lambda c: c["name"])
def test_documented_chat_completions_become_responses(case: dict[str, Any]) -> None:
    response = responses_from_chat(case["chat"], case["request"])
    Response.model_validate(response)  # the SDK's own model accepts it
    assert response["object"] == "response" and response["id"].startswith("resp_")
    assert response["model"] == case["request"]["model"] and response["store"] is False
    assert response["status"] == case["status"]
    output = [{k: v for k, v in item.items() if k != "id"} for item in response["output"]]
    assert output == case["output"]
    assert response["usage"] == case["usage"]
    prefixes = {"message": "msg_", "function_call": "fc_"}
    assert all(item["id"].startswith(prefixes[item["type"]]) for item in response["output"])
    if case["status"] == "incomplete":
        assert response["incomplete_details"] == {"reason": "max_output_tokens"}


def test_every_response_has_its_own_id() -> None:
    case = cases("replies.json")[0]
    first, second = (responses_from_chat(case["chat"], case["request"]) for _ in range(2))
    assert first["id"] != second["id"] and first["output"][0]["id"] != second["output"][0]["id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("previous_response_id", "resp_123"),
        ("conversation", "conv_1"),
        ("prompt", {"id": "pmpt_1"}),
        ("tools", [{"type": "web_search"}]),
        ("input", [{"type": "item_reference", "id": "msg_1"}]),
        ("input", [{"role": "user", "content": [{"type": "input_video", "url": "x"}]}]),  # a type not known here
        ("text", {"format": {"type": "yaml"}}),
        ("input", [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]),
    ],
)
def test_what_needs_openais_state_or_tools_is_untranslatable(field: str, value: Any) -> None:
    body = {"model": "m", "input": "hi", field: value}
    with pytest.raises(Untranslatable) as refused:
        chat_from_responses(body)
    assert (refused.value.param or "").startswith(field)
    stand_in = stand_in_for_responses(body)  # what the gateway's checks and estimate read instead
    assert stand_in["model"] == "m" and stand_in["messages"][-1]["role"] == "user"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "m", "input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
        ({"model": "m", "input": "x", "stream": "yes"}, "stream"),
        ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "input": "x", "background": True}, "background"),  # for OpenAI too: polled, uncounted
        ({"model": "m", "input": "x", "max_output_tokens": "9"}, "max_output_tokens"),
    ],
)
def test_malformed_requests_are_400s_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        chat_from_responses(body)
    assert refused.value.param == param and not isinstance(refused.value, Untranslatable)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": choices, **extra}


def tool_piece(arguments: str, *, call_id: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": 0, "function": {"arguments": arguments}}
    if call_id:
        call |= {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
    return chunk({"tool_calls": [call]})


CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me "}),
    chunk({"content": "check."}),
    tool_piece("", call_id="call_1"),
    tool_piece('{"location":'),
    tool_piece('"Paris"}'),
    chunk({}, "tool_calls"),
    chunk(usage={"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}),
]


def encode(chunks: list[dict[str, Any]], request: dict[str, Any]) -> list[dict[str, Any]]:
    encoder = ResponsesStreamEncoder(request)
    frames = [f for c in chunks for f in encoder.feed(c)] + encoder.finish()
    events = SSEParser().feed(b"".join(frames))
    for event in events:
        parsed = orjson.loads(event.data)
        assert event.event == parsed["type"]  # named as OpenAI names its events
        STREAM_EVENT.validate_python(parsed)  # the SDK's own models accept each
    return [orjson.loads(e.data) for e in events]


def test_a_stream_with_text_and_a_tool_call_becomes_responses_events() -> None:
    events = encode(CHUNKS, {"model": "gpt-4o", "input": "weather?"})
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[6]["text"] == "Let me check."
    assert events[12]["arguments"] == '{"location":"Paris"}'
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["id"] == events[0]["response"]["id"]
    message, call = final["output"]
    assert message["content"][0]["text"] == "Let me check." and message["status"] == "completed"
    assert (call["type"], call["call_id"], call["name"], call["arguments"]) == (
        "function_call",
        "call_1",
        "get_weather",
        '{"location":"Paris"}',
    )
    assert events[2]["item"]["id"] == message["id"] and events[9]["item"]["id"] == call["id"]
    assert (final["usage"]["input_tokens"], final["usage"]["output_tokens"]) == (20, 9)


def test_a_stream_cut_by_the_token_limit_ends_incomplete() -> None:
    events = encode([chunk({"content": "Roses"}), chunk({}, "length")], {"model": "m", "input": "poem"})
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-1]["response"]["output"][0]["status"] == "incomplete"


def test_a_refusal_streams_as_refusal_events() -> None:
    events = encode([chunk({"refusal": "I can't"}), chunk({}, "stop")], {"model": "m", "input": "x"})
    types = [e["type"] for e in events]
    assert "response.refusal.delta" in types and "response.refusal.done" in types
    assert events[-1]["response"]["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't"}]


def test_a_stream_failing_mid_way_ends_with_an_error_event_in_sequence() -> None:
    encoder = ResponsesStreamEncoder({"model": "m", "input": "x"})
    frames = encoder.feed(chunk({"content": "Hi"}))
    frames.append(encoder.error("upstream went away", "server_error"))
    events = [orjson.loads(e.data) for e in SSEParser().feed(b"".join(frames))]
    assert events[-1] == {
        "type": "error",
        "code": "server_error",
        "message": "upstream went away",
        "param": None,
        "sequence_number": len(events) - 1,
    }


def test_a_function_call_joins_the_assistant_turn_before_it() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "Weather?"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call_output", "call_id": "call_1", "output": [{"type": "input_text", "text": "14C"}]},
        ],
    }
    messages = chat_from_responses(body)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
        ],
    }
    assert messages[2:] == [{"role": "tool", "tool_call_id": "call_1", "content": "14C"}]  # the reasoning item dropped


def test_a_developer_message_is_a_system_message() -> None:
    body = {"model": "m", "input": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
    assert chat_from_responses(body)["messages"][0] == {"role": "system", "content": "Be brief."}
