"""What stream inspectors see of a relayed OpenAI stream (`gateway.stream_guard`): chunks as dicts, through each
watch in order; what a watch holds back comes out at `[DONE]`; a watch's refusal ends the stream."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from oneflow_ai.errors import GatewayError, InvalidRequest
from oneflow_ai.gateway.stream_guard import GuardStopped, StreamGuard
from oneflow_ai.upstream.sse import DONE, SSEParser, frame


def chunk(text: str) -> dict[str, Any]:
    return {"id": "c", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def texts(frames: list[bytes]) -> list[str]:
    out = []
    for event in SSEParser().feed(b"".join(frames)):
        out.append("[DONE]" if event.data == b"[DONE]" else orjson.loads(event.data)["choices"][0]["delta"]["content"])
    return out


class Hold:
    """Holds everything back until the end, then sends it joined in one chunk."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def feed(self, c: dict[str, Any]) -> list[dict[str, Any]]:
        self.parts.append(c["choices"][0]["delta"]["content"])
        return []

    def finish(self) -> list[dict[str, Any]]:
        return [chunk("".join(self.parts))]


class Suffix:
    def __init__(self, suffix: str, refuse: str | None = None) -> None:
        self.suffix, self.refuse = suffix, refuse

    def feed(self, c: dict[str, Any]) -> list[dict[str, Any]]:
        text = c["choices"][0]["delta"]["content"]
        if text == self.refuse:
            raise InvalidRequest("not that")
        return [chunk(text + self.suffix)]

    def finish(self) -> list[dict[str, Any]]:
        return [chunk("end" + self.suffix)]


def test_each_watch_feeds_the_next_and_what_is_held_comes_out_at_done() -> None:
    guard = StreamGuard([Hold(), Suffix("!")])
    assert guard.feed([frame(orjson.dumps(chunk("a"))), frame(orjson.dumps(chunk("b")))]) == []
    # a frame split across two calls is decoded whole
    whole = frame(orjson.dumps(chunk("c"))) + DONE
    assert guard.feed([whole[:7]]) == []
    assert texts(guard.feed([whole[7:]])) == ["abc!", "end!", "[DONE]"]


def test_a_data_line_that_is_not_a_chunk_passes_unseen() -> None:
    guard = StreamGuard([Suffix("!")])
    assert guard.feed([frame(b"keep-alive")]) == [frame(b"keep-alive")]


def test_a_watch_that_refuses_ends_the_stream() -> None:
    guard = StreamGuard([Suffix("!", refuse="bad")])
    assert texts(guard.feed([frame(orjson.dumps(chunk("ok")))])) == ["ok!"]
    with pytest.raises(GuardStopped) as stopped:
        guard.feed([frame(orjson.dumps(chunk("bad")))])
    assert isinstance(stopped.value.error, GatewayError) and stopped.value.error.status == 400
