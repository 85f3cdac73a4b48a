"""OpenAI's Responses API, streamed: chat-completion chunks in, the Responses API's SSE events out.

`ResponsesStreamEncoder` is fed the parsed `chat.completion.chunk`s of a translated call (the usage-only one too)
and returns the frames OpenAI would send: `response.created` and `response.in_progress` first; per output item
`response.output_item.added`, then for text `response.content_part.added`, `response.output_text.delta`s,
`response.output_text.done`, `response.content_part.done` (a refusal: `response.refusal.delta` / `.done`), for a
tool call `response.function_call_arguments.delta`s and `.done`; `response.output_item.done`; and last
`response.completed` (or `response.incomplete` when the answer was cut by `max_output_tokens`) carrying the whole
response and its usage. Every event has its `sequence_number`, counted from 0. One item is open at a time, as
OpenAI streams them: text first, then each tool call in the order its first piece arrived.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from oneflow_ai.providers.base import Usage
from oneflow_ai.providers.openai_responses import stream_error_event
from oneflow_ai.providers.responses_reply import (
    INCOMPLETE,
    function_call_item,
    message_item,
    new_id,
    output_text,
    response_object,
    responses_usage_object,
)


class ResponsesStreamEncoder:
    __slots__ = (
        "_created",
        "_finish",
        "_id",
        "_open",
        "_output",
        "_pieces",
        "_reasoning",
        "_request",
        "_sequence",
        "_started",
        "_tools",
        "_usage",
    )

    def __init__(self, request: dict[str, Any]) -> None:
        self._request = request
        self._id = new_id("resp_")
        self._created = int(time.time())
        self._sequence = 0
        self._started = False
        self._output: list[dict[str, Any]] = []
        """The items so far; the last is open while `_open` names it (`text`, `refusal` or a tool call index)."""
        self._open: str | int | None = None
        self._pieces: list[str] = []
        """The open item's text (or arguments) so far, joined when it closes: a long answer is not copied per delta."""
        self._tools: dict[int, int] = {}  # chat tool_call index -> output index
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._reasoning = 0

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out = self._start()
        usage = chunk.get("usage")
        self._usage = Usage.from_openai(usage) or self._usage
        details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
        if isinstance(details, dict):
            self._reasoning = int(details.get("reasoning_tokens") or 0)
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            for kind in ("content", "refusal"):
                piece = delta.get(kind)
                if isinstance(piece, str) and piece:
                    out += self._text(piece, "text" if kind == "content" else "refusal")
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    out += self._tool_piece(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def finish(self) -> list[bytes]:
        """The closing events: the open item's, then `response.completed` (or `response.incomplete`)."""
        out = self._start() + self._close()
        incomplete = INCOMPLETE.get(self._finish or "")
        usage = responses_usage_object(self._usage, self._reasoning) if self._usage is not None else None
        status = "incomplete" if incomplete else "completed"
        response = self._response(status, usage=usage, incomplete=incomplete)
        out.append(self._event(f"response.{status}", {"response": response}))
        return out

    def error(self, message: str, code: str = "server_error") -> bytes:
        """The `error` event that ends a stream whose upstream failed mid-way."""
        self._sequence += 1
        return stream_error_event(message, code, self._sequence - 1)

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(self._request, self._id, self._created, status, self._output, **extra)

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        response = self._response("in_progress")
        return [
            self._event("response.created", {"response": response}),
            self._event("response.in_progress", {"response": response}),
        ]

    def _text(self, piece: str, kind: str) -> list[bytes]:
        out: list[bytes] = []
        if self._open != kind:
            out += self._close()
            item = message_item(new_id("msg_"), [], "in_progress")
            out += self._add(item, kind)
            part = output_text("") if kind == "text" else {"type": "refusal", "refusal": ""}
            item["content"].append(part)
            out.append(self._event("response.content_part.added", {**self._where(), "content_index": 0, "part": part}))
        self._pieces.append(piece)
        extra: dict[str, Any] = {}
        if kind == "text":
            name, extra = "response.output_text.delta", {"logprobs": []}
        else:
            name = "response.refusal.delta"
        out.append(self._event(name, {**self._where(), "content_index": 0, "delta": piece, **extra}))
        return out

    def _tool_piece(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        position = call.get("index", 0)
        function = call.get("function") or {}
        if position not in self._tools:
            out += self._close()
            call_id = call.get("id") or new_id("call_")
            item = function_call_item(new_id("fc_"), str(call_id), str(function.get("name") or ""), "in_progress")
            out += self._add(item, position)
            self._tools[position] = len(self._output) - 1
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            index = self._tools[position]
            item = self._output[index]
            if self._open == position:
                self._pieces.append(arguments)
            else:  # a late piece of a call already closed (servers stream calls one after another)
                item["arguments"] += arguments
            where = {"item_id": item["id"], "output_index": index}
            out.append(self._event("response.function_call_arguments.delta", {**where, "delta": arguments}))
        return out

    def _add(self, item: dict[str, Any], key: str | int) -> list[bytes]:
        self._output.append(item)
        self._open = key
        added = {"output_index": len(self._output) - 1, "item": {**item, "content": []} if "content" in item else item}
        return [self._event("response.output_item.added", added)]

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        kind, self._open = self._open, None
        item = self._output[-1]
        joined, self._pieces = "".join(self._pieces), []
        where = self._where()
        out: list[bytes] = []
        status = "incomplete" if INCOMPLETE.get(self._finish or "") else "completed"
        if item["type"] == "message":
            part = item["content"][0]
            part["text" if kind == "text" else "refusal"] = joined
            if kind == "text":
                done = {**where, "content_index": 0, "text": part["text"], "logprobs": []}
                out.append(self._event("response.output_text.done", done))
            else:
                out.append(
                    self._event("response.refusal.done", {**where, "content_index": 0, "refusal": part["refusal"]})
                )
            out.append(self._event("response.content_part.done", {**where, "content_index": 0, "part": part}))
        else:
            item["arguments"] = joined
            done = {**where, "name": item["name"], "arguments": joined}
            out.append(self._event("response.function_call_arguments.done", done))
        item["status"] = status
        out.append(self._event("response.output_item.done", {"output_index": where["output_index"], "item": item}))
        return out

    def _where(self) -> dict[str, Any]:
        return {"item_id": self._output[-1]["id"], "output_index": len(self._output) - 1}

    def _event(self, name: str, data: dict[str, Any]) -> bytes:
        payload = {"type": name, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
