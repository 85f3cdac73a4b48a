"""Gemini's `streamGenerateContent?alt=sse` as OpenAI `chat.completion.chunk` frames.

Each SSE event is a whole `GenerateContentResponse` (`data: {...}`, CRLF-framed, no `[DONE]`): its candidates'
text parts become content deltas, each `functionCall` part one tool call (Gemini sends a call whole, never in
pieces: its arguments come in one delta), a `finishReason` the finish chunk. `usageMetadata` comes with the
events, cumulative; the last one is the stream's usage. A stream that ends without a `finishReason` was cut.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.google.reply import candidate_delta, finish_reason, openai_call_id, openai_usage, usage_of
from oneflow_ai.providers.stream_end import stream_end
from oneflow_ai.upstream.decoders import StreamEvent
from oneflow_ai.upstream.sse import frame


class GeminiStream:
    """Feed Gemini SSE events; get OpenAI chunk frames. Raises `UpstreamError` on an error event or a cut stream."""

    __slots__ = (
        "_calls",
        "_created",
        "_finished",
        "_id",
        "_metadata",
        "_model",
        "_produced",
        "_provider",
        "_started",
        "_wants_usage",
        "usage",
    )

    def __init__(self, provider: str, *, response_id: str, model: str, client_wants_usage: bool, created: int) -> None:
        self.usage: Usage | None = None
        self._provider = provider
        self._id = response_id
        self._model = model
        self._wants_usage = client_wants_usage
        self._created = created
        self._metadata: Any = None
        self._calls: dict[int, int] = {}  # candidate index -> tool calls sent so far
        self._started: set[int] = set()  # candidates whose role chunk was sent
        self._finished: set[int] = set()
        self._produced: list[str] = []

    def feed(self, event: StreamEvent) -> list[bytes]:
        if not event.data:
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise self._failure(f"sent a stream event that is not JSON: {event.data[:200]!r}") from None
        if not isinstance(data, dict):
            return []
        if isinstance(data.get("error"), dict):
            raise self._failure(str(data["error"].get("message") or data["error"].get("status") or "stream error"))
        if not self._started and isinstance(data.get("responseId"), str) and data["responseId"]:
            self._id = f"chatcmpl-{data['responseId']}"  # the upstream's id, known from its first event
        if isinstance(data.get("modelVersion"), str):
            self._model = data["modelVersion"]
        if data.get("usageMetadata") is not None:
            self._metadata = data["usageMetadata"]
            self.usage = usage_of(self._metadata)
        candidates = data.get("candidates")
        if not candidates and (data.get("promptFeedback") or {}).get("blockReason"):
            candidates = [{"index": 0, "finishReason": "SAFETY"}]
        out: list[bytes] = []
        for position, candidate in enumerate(candidates or ()):
            if isinstance(candidate, dict):
                out += self._candidate(candidate.get("index", position), candidate)
        return out

    def _candidate(self, index: int, candidate: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if index not in self._started:
            self._started.add(index)
            out.append(self._chunk(index, {"role": "assistant", "content": ""}))
        text, calls = candidate_delta(candidate)
        if text:
            self._produced.append(text)
            out.append(self._chunk(index, {"content": text}))
        for call in calls:
            k = self._calls.get(index, 0)
            self._calls[index] = k + 1
            self._produced.append(call["arguments"])
            function = {"name": call["name"], "arguments": call["arguments"]}
            tool = {"index": k, "id": openai_call_id(call, self._id, index, k), "type": "function"}
            out.append(self._chunk(index, {"tool_calls": [{**tool, "function": function}]}))
        reason = candidate.get("finishReason")
        if reason is not None:
            self._finished.add(index)
            out.append(self._chunk(index, {}, finish_reason(reason, called=index in self._calls)))
        return out

    def finish(self, counted: Usage | None = None) -> list[bytes]:
        if not self._finished:
            raise self._failure("ended the stream before a finishReason")
        usage = openai_usage(self._metadata) if self.usage is not None else None
        if usage is None and counted is not None:
            usage = counted.to_openai()
        return stream_end(self._id, self._created, self._model, usage, wants_usage=self._wants_usage)

    def completion_text(self) -> str:
        return "".join(self._produced)

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
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
