"""What the stream inspectors (`gateway.stages.StreamInspector`) see of an OpenAI chat stream, and what they send.

The relay's frames are decoded (our own SSE) into chunks (parsed dicts); each chunk goes through every watch in
order, each watch's output feeding the next; at `[DONE]` each watch gives up what it still holds (`finish`), and
the result is encoded back into frames. A relay whose call has no watch builds no guard: its frames are neither
parsed nor encoded again.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.errors import GatewayError
from oneflow_ai.gateway.call import Call
from oneflow_ai.gateway.stages import Stages, StreamWatch
from oneflow_ai.upstream.sse import DONE, SSEParser, frame


class GuardStopped(Exception):
    """A watch ended the stream (`error`): the client gets the error event; the deployment is not at fault."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


class StreamGuard:
    __slots__ = ("_parser", "_watches")

    def __init__(self, watches: list[StreamWatch]) -> None:
        self._watches = watches
        self._parser = SSEParser()

    def feed(self, frames: list[bytes]) -> list[bytes]:
        if not frames:
            return frames
        out: list[bytes] = []
        try:
            for event in self._parser.feed(b"".join(frames)):
                if event.data == b"[DONE]":
                    out += _encode(self._through([], finish=True))
                    out.append(DONE)
                    continue
                try:
                    chunk = orjson.loads(event.data)
                except orjson.JSONDecodeError:
                    chunk = None
                if not isinstance(chunk, dict):
                    out.append(frame(event.data))  # not a chunk: passes unseen
                    continue
                out += _encode(self._through([chunk], finish=False))
        except GatewayError as e:
            raise GuardStopped(e) from e
        return out

    def _through(self, chunks: list[dict[str, Any]], *, finish: bool) -> list[dict[str, Any]]:
        for watch in self._watches:
            passed: list[dict[str, Any]] = []
            for chunk in chunks:
                passed += watch.feed(chunk)
            if finish:
                passed += watch.finish()
            chunks = passed
        return chunks


def stream_guard(stages: Stages, call: Call) -> StreamGuard | None:
    """The call's guard, or None when no inspector watches its stream."""
    if not stages.stream_inspectors:
        return None
    watches = [w for w in (i.open(call) for i in stages.stream_inspectors) if w is not None]
    return StreamGuard(watches) if watches else None


def _encode(chunks: list[dict[str, Any]]) -> list[bytes]:
    return [frame(orjson.dumps(chunk)) for chunk in chunks]
