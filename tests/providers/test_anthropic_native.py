"""Anthropic to Anthropic: the upstream request built from the caller's body, and the usage read from the answer."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.anthropic_native import MessagesStreamWatch, message_usage, messages_request
from oneflow_ai.providers.base import Usage
from oneflow_ai.upstream.sse import SSEParser

USAGE = {"input_tokens": 21, "cache_creation_input_tokens": 1200, "cache_read_input_tokens": 2400, "output_tokens": 1}
EVENTS: list[dict[str, Any]] = [
    {"type": "message_start", "message": {"id": "msg_1", "type": "message", "model": "claude-x", "usage": USAGE}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi there"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
    {"type": "message_stop"},
]
STREAM = b"".join(f"event: {e['type']}\r\ndata: {json.dumps(e)}\r\n\r\n".encode() for e in EVENTS)


def deployment(**headers: str) -> Deployment:
    return Deployment.model_validate(
        {"provider": "anthropic", "model": "claude-up", "id": "c/0", "base_url": "http://up", "headers": headers}
    )


def watched(*pieces: bytes) -> MessagesStreamWatch:
    parser, watch = SSEParser(), MessagesStreamWatch()
    for piece in pieces:
        for event in parser.feed(piece):
            watch.feed(event)
    for event in parser.flush():
        watch.feed(event)
    return watch


def test_the_callers_body_goes_up_with_only_its_model_replaced() -> None:
    body = {"model": "alias", "max_tokens": 9, "top_k": 3, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    request = messages_request(body, deployment(), {"anthropic-beta": "b1", "anthropic-version": "2026-01-01"})
    assert orjson.loads(request.body) == {**body, "model": "claude-up"}
    assert request.url == "http://up/v1/messages"
    assert "x-api-key" not in request.headers  # the deployment's `Auth` adds it
    assert (request.headers["anthropic-version"], request.headers["anthropic-beta"]) == ("2026-01-01", "b1")
    # without the caller's version, the gateway's; the deployment's configured headers win over the caller's
    assert messages_request(body, deployment(), {}).headers["anthropic-version"] == "2023-06-01"
    pinned = messages_request(body, deployment(**{"anthropic-beta": "ops"}), {"anthropic-beta": "b1"})
    assert pinned.headers["anthropic-beta"] == "ops" and "x-api-key" not in pinned.headers


def test_a_messages_usage_counts_cache_reads_and_writes() -> None:
    payload = orjson.dumps({"type": "message", "model": "claude-x", "usage": {**USAGE, "output_tokens": 9}})
    assert message_usage(payload, "anthropic") == (Usage(21 + 1200 + 2400, 9, 2400, 1200), "claude-x")
    with pytest.raises(UpstreamError):
        message_usage(b'{"type": "error"}', "anthropic")


@pytest.mark.parametrize("at", range(len(STREAM) + 1))
def test_a_stream_split_anywhere_gives_the_same_usage(at: int) -> None:
    watch = watched(STREAM[:at], STREAM[at:])
    assert watch.usage == Usage(21 + 1200 + 2400, 9, 2400, 1200)
    assert (watch.stopped, watch.error, watch.model) == (True, None, "claude-x")
    assert watch.completion_text() == "Hmm.Hi there"


def test_an_error_event_and_a_stream_without_message_stop() -> None:
    error = b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    watch = watched(STREAM[: STREAM.index(b"event: message_delta")], error)
    assert (watch.stopped, watch.error) == (False, "Overloaded")
    assert watch.usage == Usage(21 + 1200 + 2400, 1, 2400, 1200)  # as message_start said
