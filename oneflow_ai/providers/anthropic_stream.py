"""Anthropic's Messages stream as OpenAI `chat.completion.chunk` frames, and the small mappings both
directions of the Anthropic provider share (stop reason, usage).

Anthropic sends typed events (`message_start`, `content_block_start` / `_delta` / `_stop`, `message_delta`,
`message_stop`, `ping`, `error`); each becomes zero or one OpenAI chunk. Tool-use blocks become tool calls
numbered in the order they start, whatever their block index; thinking blocks are left out.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.stream_end import stream_end
from oneflow_ai.upstream.sse import SSEEvent, frame

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    """Anthropic's `stop_reason` as OpenAI's `finish_reason`."""
    return _FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage_of(usage: Any) -> Usage | None:
    """Anthropic's usage as ours: cache reads and writes are prompt tokens too (Anthropic's `input_tokens` counts
    neither), reads the cached ones, writes the cache-write ones."""
    if not isinstance(usage, dict):
        return None
    cached = int(usage.get("cache_read_input_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cached + written
    return Usage(prompt, int(usage.get("output_tokens") or 0), cached, written)


class AnthropicStream:
    """Feed Anthropic SSE events; get OpenAI chunk frames. Raises `UpstreamError` on an `error` event."""

    __slots__ = (
        "_counts",
        "_created",
        "_id",
        "_model",
        "_produced",
        "_provider",
        "_stopped",
        "_tools",
        "_wants_usage",
        "usage",
    )

    def __init__(self, provider: str, *, client_wants_usage: bool, created: int) -> None:
        self.usage: Usage | None = None
        self._provider = provider
        self._wants_usage = client_wants_usage
        self._created = created
        self._id: Any = None
        self._model: Any = None
        self._counts: dict[str, int] = {}  # Anthropic's usage fields, as last reported (they are cumulative)
        self._tools: dict[Any, int] = {}  # Anthropic block index -> OpenAI tool_call index
        self._produced: list[str] = []
        self._stopped = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        if not event.data:
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise self._failure(f"sent a stream event that is not JSON: {event.data[:200]!r}") from None
        if not isinstance(data, dict):
            return []
        match data.get("type") or event.event:
            case "message_start":
                message = data.get("message") or {}
                self._id, self._model = message.get("id"), message.get("model")
                self._note_usage(message.get("usage"))
                return [self._chunk({"role": "assistant", "content": ""})]
            case "content_block_start":
                return self._block_start(data.get("index"), data.get("content_block") or {})
            case "content_block_delta":
                return self._block_delta(data.get("index"), data.get("delta") or {})
            case "message_delta":
                self._note_usage(data.get("usage"))
                return [self._chunk({}, finish_reason((data.get("delta") or {}).get("stop_reason")))]
            case "message_stop":
                self._stopped = True
                return []
            case "error":
                error = data.get("error") or {}
                raise self._failure(str(error.get("message") or error.get("type") or "stream error"))
        return []  # ping, content_block_stop, and event types added after this was written

    def finish(self, counted: Usage | None = None) -> list[bytes]:
        if not self._stopped:
            raise self._failure("ended the stream before message_stop")
        usage = self.usage or counted
        return stream_end(
            self._id,
            self._created,
            self._model,
            None if usage is None else usage.to_openai(),
            wants_usage=self._wants_usage,
        )

    def completion_text(self) -> str:
        return "".join(self._produced)

    def _block_start(self, index: Any, block: dict[str, Any]) -> list[bytes]:
        kind = block.get("type")
        if kind == "text":
            return self._text(block.get("text"))
        if kind != "tool_use":
            return []
        position = self._tools[index] = len(self._tools)
        function = {"name": block.get("name"), "arguments": ""}
        return [
            self._chunk(
                {"tool_calls": [{"index": position, "id": block.get("id"), "type": "function", "function": function}]}
            )
        ]

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[bytes]:
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text(delta.get("text"))
        piece = delta.get("partial_json")
        if kind != "input_json_delta" or index not in self._tools or not isinstance(piece, str) or not piece:
            return []
        self._produced.append(piece)
        return [self._chunk({"tool_calls": [{"index": self._tools[index], "function": {"arguments": piece}}]})]

    def _text(self, text: Any) -> list[bytes]:
        if not isinstance(text, str) or not text:
            return []
        self._produced.append(text)
        return [self._chunk({"content": text})]

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return frame(
            orjson.dumps(
                {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                    "choices": [choice],
                }
            )
        )

    def _note_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._counts.update({k: v for k, v in usage.items() if isinstance(v, int)})
            self.usage = usage_of(self._counts)

    def _failure(self, message: str) -> UpstreamError:
        return UpstreamError(f"{self._provider}: {message}", provider=self._provider)
