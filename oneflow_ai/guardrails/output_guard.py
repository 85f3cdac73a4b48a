"""The output side: a `ReplyInspector` for complete answers and a `StreamInspector` for streamed ones.

What the model wrote is scanned with the call's output rules and rewritten (redact, mask) or refused (block: a reply
becomes a 400 `content_blocked`, a stream ends with that error event). The placeholders the input side made for a
policy that restores them get their values back later, last of all (`restore_guard`). A stream is checked as it
goes, per choice, through a `StreamWindow` that holds back only what could still become a match; nothing else is
buffered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from oneflow_ai.gateway.call import Call, JSONReply
from oneflow_ai.guardrails.actions import Hit, rewrite
from oneflow_ai.guardrails.body_text import REPLY_ROOTS, Path, replaced, texts
from oneflow_ai.guardrails.engine import CallGuard
from oneflow_ai.guardrails.verdicts import WARNING_HEADER, judge
from oneflow_ai.guardrails.window import StreamWindow

TEXT_ENDPOINTS = frozenset({"chat", "messages", "responses"})
"""The calls whose answer is text the output side reads (not embeddings, images or audio)."""


def _guard(call: Call) -> CallGuard | None:
    guard = call.guard
    if not isinstance(guard, CallGuard) or not guard.output or call.endpoint not in TEXT_ENDPOINTS:
        return None
    return guard


class OutputGuard:
    def inspect(self, call: Call, reply: JSONReply) -> JSONReply:
        guard = _guard(call)
        if guard is None:
            return reply
        try:
            body = reply.json()
        except orjson.JSONDecodeError:
            return reply
        changes: dict[Path, str] = {}
        slots = texts(body, REPLY_ROOTS)
        found = guard.scan_all([t for _, t in slots], "output") if slots else []
        for (path, text), hits in zip(slots, found, strict=True):
            new = _act(call, guard, text, hits)
            if new != text:
                changes[path] = new
        headers = reply.headers
        warned = call.response_headers.get(WARNING_HEADER)
        if warned is not None and headers.get(WARNING_HEADER) != warned:
            headers = {**headers, WARNING_HEADER: warned}
        if not changes:
            return reply if headers is reply.headers else JSONReply(reply.body, headers, reply.status, reply.wire)
        rewritten = replaced(body, changes)
        return JSONReply(orjson.dumps(rewritten), headers, reply.status, reply.wire, _parsed=rewritten)

    def open(self, call: Call) -> OutputWatch | None:
        guard = _guard(call)
        return None if guard is None else OutputWatch(call, guard)


def _act(call: Call, guard: CallGuard, text: str, found: Sequence[Hit]) -> str:
    if not found:
        return text
    judge(call, guard, found, "answer")
    return rewrite(text, found, guard.placeholders, restorable=False)


class OutputWatch:
    """One stream: a window per choice over its content deltas."""

    __slots__ = ("_call", "_guard", "_identity", "_windows")

    def __init__(self, call: Call, guard: CallGuard) -> None:
        self._call = call
        self._guard = guard
        self._windows: dict[int, StreamWindow] = {}
        self._identity: dict[str, Any] = {}

    def _window(self, index: int) -> StreamWindow:
        window = self._windows.get(index)
        if window is None:
            guard, call = self._guard, self._call
            window = StreamWindow(
                lambda text: guard.scan(text, "output"), lambda text, found: _act(call, guard, text, found)
            )
            self._windows[index] = window
        return window

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices:
            return [chunk]
        if not self._identity:
            self._identity = {k: chunk[k] for k in ("id", "object", "created", "model") if k in chunk}
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if not isinstance(index, int) or not isinstance(delta, dict):
                continue
            content = delta.get("content")
            if isinstance(content, str) and content:
                delta["content"] = self._window(index).push(content)
            if choice.get("finish_reason") is not None and index in self._windows:
                rest = self._windows.pop(index).flush()
                if rest:
                    delta["content"] = (delta.get("content") or "") + rest
        return [chunk]

    def finish(self) -> list[dict[str, Any]]:
        out = []
        for index, window in sorted(self._windows.items()):
            rest = window.flush()
            if rest:
                delta = {"content": rest}
                out.append({**self._identity, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        self._windows.clear()
        return out
