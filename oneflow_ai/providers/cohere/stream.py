"""Cohere's chat v2 stream as OpenAI `chat.completion.chunk` frames.

Cohere sends SSE events named by their `type` (`event: content-delta` and `"type": "content-delta"` in the data):
`message-start` (the id), `content-start` / `content-delta` / `content-end` (text), `tool-plan-delta` (the
model's plan before its calls: left out), `tool-call-start` (a call's id and name), `tool-call-delta` (pieces of
its arguments), `tool-call-end`, `citation-start` / `citation-end` (left out) and `message-end` (the
`finish_reason` and the usage). There is no `[DONE]`: a stream that ends without `message-end` was cut.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.cohere.chat import finish_reason, usage_of
from oneflow_ai.providers.stream_end import stream_end
from oneflow_ai.upstream.decoders import StreamEvent
from oneflow_ai.upstream.sse import frame


class CohereStream:
    """Feed Cohere SSE events; get OpenAI chunk frames. Raises `UpstreamError` on a cut stream."""

    __slots__ = ("_created", "_ended", "_id", "_model", "_produced", "_provider", "_tools", "_wants_usage", "usage")

    def __init__(self, provider: str, *, model: str, client_wants_usage: bool, created: int) -> None:
        self.usage: Usage | None = None
        self._provider = provider
        self._model = model
        self._wants_usage = client_wants_usage
        self._created = created
        self._id: Any = None
        self._tools: dict[Any, int] = {}  # Cohere's tool call index -> OpenAI tool_call index
        self._produced: list[str] = []
        self._ended = False

    def feed(self, event: StreamEvent) -> list[bytes]:
        if not event.data:
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise self._failure(f"sent a stream event that is not JSON: {event.data[:200]!r}") from None
        if not isinstance(data, dict):
            return []
        message = ((data.get("delta") or {}).get("message") or {}) if isinstance(data.get("delta"), dict) else {}
        match data.get("type") or event.event:
            case "message-start":
                self._id = data.get("id")
                return [self._chunk({"role": "assistant", "content": ""})]
            case "content-delta":
                text = (message.get("content") or {}).get("text")
                if isinstance(text, str) and text:
                    self._produced.append(text)
                    return [self._chunk({"content": text})]
            case "tool-call-start":
                call = message.get("tool_calls") or {}
                function = call.get("function") or {}
                position = self._tools[data.get("index")] = len(self._tools)
                arguments = str(function.get("arguments") or "")
                self._produced.append(arguments)
                tool = {"index": position, "id": call.get("id"), "type": "function"}
                return [
                    self._chunk(
                        {"tool_calls": [{**tool, "function": {"name": function.get("name"), "arguments": arguments}}]}
                    )
                ]
            case "tool-call-delta":
                piece = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
                if isinstance(piece, str) and piece and data.get("index") in self._tools:
                    self._produced.append(piece)
                    delta = {"index": self._tools[data["index"]], "function": {"arguments": piece}}
                    return [self._chunk({"tool_calls": [delta]})]
            case "message-end":
                self._ended = True
                end = data.get("delta") or {}
                self.usage = usage_of(end.get("usage"))
                return [self._chunk({}, finish_reason(end.get("finish_reason")))]
        return []

    def finish(self, counted: Usage | None = None) -> list[bytes]:
        if not self._ended:
            raise self._failure("ended the stream before message-end")
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

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [choice],
        }
        return frame(orjson.dumps(chunk))

    def _failure(self, message: str) -> UpstreamError:
        return UpstreamError(f"{self._provider}: {message}", provider=self._provider)
