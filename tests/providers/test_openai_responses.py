"""The Responses API passed through to OpenAI: the request as the deployment gets it, and what the accounting reads
from a `response` and from a stream (OpenAI's documented events, split at every offset)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.openai_responses import OPENAI_RESPONSES, ResponsesStreamWatch
from oneflow_ai.upstream.sse import SSEParser

USAGE = {
    "input_tokens": 36,
    "input_tokens_details": {"cached_tokens": 12},
    "output_tokens": 87,
    "output_tokens_details": {"reasoning_tokens": 40},
    "total_tokens": 123,
}


def event(name: str, sequence: int, **data: Any) -> bytes:
    return (
        b"event: "
        + name.encode()
        + b"\ndata: "
        + orjson.dumps({"type": name, "sequence_number": sequence, **data})
        + b"\n\n"
    )


RESPONSE = {"id": "resp_1", "object": "response", "model": "gpt-4.1-2025-04-14", "status": "in_progress", "output": []}
STREAM = b"".join(
    [
        event("response.created", 0, response=RESPONSE),
        event("response.in_progress", 1, response=RESPONSE),
        event("response.output_text.delta", 2, item_id="msg_1", output_index=0, content_index=0, delta="Hi"),
        event("response.output_text.delta", 3, item_id="msg_1", output_index=0, content_index=0, delta=" there"),
        event("response.completed", 4, response={**RESPONSE, "status": "completed", "usage": USAGE}),
    ]
)


def test_the_request_keeps_the_callers_body_and_sets_the_model() -> None:
    dep = Deployment(provider="openai", model="gpt-4.1", base_url="https://api.example/v1")
    body = {
        "model": "alias",
        "input": "hi",
        "previous_response_id": "resp_0",
        "store": True,
        "tools": [{"type": "web_search"}],
    }
    request = OPENAI_RESPONSES.request(body, dep, {}, stream=True)
    assert request.url == "https://api.example/v1/responses"
    assert orjson.loads(request.body) == {**body, "model": "gpt-4.1"}
    assert OPENAI_RESPONSES.serves(dep)
    assert not OPENAI_RESPONSES.serves(Deployment(provider="mistral", model="m"))  # translated: no /responses there


def test_the_usage_of_a_response() -> None:
    payload = orjson.dumps({**RESPONSE, "status": "completed", "usage": USAGE})
    assert OPENAI_RESPONSES.reply_usage(payload, "openai") == (Usage(36, 87, 12), "gpt-4.1-2025-04-14")
    with pytest.raises(UpstreamError):
        OPENAI_RESPONSES.reply_usage(b'{"object": "chat.completion"}', "openai")


@pytest.mark.parametrize("split", range(0, len(STREAM), 7))
def test_the_watch_reads_the_stream_split_anywhere(split: int) -> None:
    watch, parser = ResponsesStreamWatch(), SSEParser()
    for part in (STREAM[:split], STREAM[split:]):
        for ev in parser.feed(part):
            watch.feed(ev)
    assert (watch.usage, watch.model, watch.stopped, watch.error) == (
        Usage(36, 87, 12),
        "gpt-4.1-2025-04-14",
        True,
        None,
    )
    assert watch.completion_text() == "Hi there"


def test_a_failed_response_is_the_upstreams_error() -> None:
    watch, parser = ResponsesStreamWatch(), SSEParser()
    failed = {**RESPONSE, "status": "failed", "error": {"code": "server_error", "message": "boom"}}
    for ev in parser.feed(
        event("response.created", 0, response=RESPONSE) + event("response.failed", 1, response=failed)
    ):
        watch.feed(ev)
    assert watch.stopped and watch.error == "boom"
