"""Bedrock's ConverseStream events (as `upstream.event_stream` decodes them) as OpenAI `chat.completion.chunk`
frames.

The events: `messageStart` (the role), `contentBlockStart` (a tool use's id and name), `contentBlockDelta` (text,
or a piece of a tool use's JSON input), `contentBlockStop`, `messageStop` (the stop reason), `metadata` (usage and
metrics, after `messageStop`); an exception ends the stream with its error. Tool uses become tool calls numbered
in the order they start, whatever their block index; reasoning deltas are left out. Converse names neither the
answer nor the model in its stream: the translator is given both.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.bedrock.converse import finish_reason, usage_of
from oneflow_ai.providers.bedrock.errors import stream_exception
from oneflow_ai.providers.stream_end import stream_end
from oneflow_ai.upstream.decoders import StreamEvent
from oneflow_ai.upstream.event_stream import ERROR, EXCEPTION
from oneflow_ai.upstream.sse import frame


class ConverseStream:
    """Feed ConverseStream events; get OpenAI chunk frames. Raises `UpstreamError` on an exception event."""

    __slots__ = (
        "_created",
        "_id",
        "_model",
        "_produced",
        "_provider",
        "_stopped",
        "_tools",
        "_wants_usage",
        "_with_input",
        "usage",
    )

    def __init__(
        self, provider: str, *, model: str, completion_id: str, created: int, client_wants_usage: bool
    ) -> None:
        self.usage: Usage | None = None
        self._provider = provider
        self._model = model
        self._id = completion_id
        self._created = created
        self._wants_usage = client_wants_usage
        self._tools: dict[Any, int] = {}  # Converse block index -> OpenAI tool_call index
        self._produced: list[str] = []
        self._with_input: set[Any] = set()  # the block indexes of tool uses whose input has come
        self._stopped = False

    def feed(self, event: StreamEvent) -> list[bytes]:
        name = event.event or ""
        if name.startswith(EXCEPTION):
            raise stream_exception(name[len(EXCEPTION) :], event.data, self._provider)
        if name.startswith(ERROR):
            raise self._failure(f"{name[len(ERROR) :]}: {event.data.decode(errors='replace')}")
        try:
            data = orjson.loads(event.data) if event.data else {}
        except orjson.JSONDecodeError:
            raise self._failure(f"sent a stream event that is not JSON: {event.data[:200]!r}") from None
        if not isinstance(data, dict):
            return []
        match name:
            case "messageStart":
                return [self._chunk({"role": "assistant", "content": ""})]
            case "contentBlockStart":
                return self._block_start(data.get("contentBlockIndex"), data.get("start") or {})
            case "contentBlockDelta":
                return self._block_delta(data.get("contentBlockIndex"), data.get("delta") or {})
            case "contentBlockStop":
                return self._block_stop(data.get("contentBlockIndex"))
            case "messageStop":
                self._stopped = True
                return [self._chunk({}, finish_reason(data.get("stopReason")))]
            case "metadata":
                self.usage = usage_of(data.get("usage")) or self.usage
        return []  # event types added after this was written

    def finish(self, counted: Usage | None = None) -> list[bytes]:
        if not self._stopped:
            raise self._failure("ended the stream before messageStop")
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

    def _block_start(self, index: Any, start: dict[str, Any]) -> list[bytes]:
        use = start.get("toolUse")
        if not isinstance(use, dict):
            return []
        position = self._tools[index] = len(self._tools)
        call = {"index": position, "id": use.get("toolUseId"), "type": "function"}
        return [self._chunk({"tool_calls": [{**call, "function": {"name": use.get("name"), "arguments": ""}}]})]

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[bytes]:
        text = delta.get("text")
        if isinstance(text, str):
            if not text:
                return []
            self._produced.append(text)
            return [self._chunk({"content": text})]
        use = delta.get("toolUse")
        piece = use.get("input") if isinstance(use, dict) else None
        if index not in self._tools or not isinstance(piece, str) or not piece:
            return []  # reasoning, or a block this translator does not know
        self._produced.append(piece)
        self._with_input.add(index)
        return [self._chunk({"tool_calls": [{"index": self._tools[index], "function": {"arguments": piece}}]})]

    def _block_stop(self, index: Any) -> list[bytes]:
        """A tool use whose input never came (a tool without parameters) gets `{}`, so its arguments parse."""
        if index not in self._tools or index in self._with_input:
            return []
        return [self._chunk({"tool_calls": [{"index": self._tools[index], "function": {"arguments": "{}"}}]})]

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
