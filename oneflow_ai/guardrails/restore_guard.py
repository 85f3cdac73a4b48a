"""The last output stage: the values a restoring policy redacted from the request go back into the answer, for the
caller (`<EMAIL_ADDRESS_1>` -> the caller's address).

It runs after every other inspector, the response cache included, so what the cache keeps (and what another caller
with the same redacted prompt may be served) still has the placeholders; each caller gets their own values back,
from their own call's placeholders. A stream holds back only a `<...` that may still become a placeholder.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.gateway.call import Call, JSONReply
from oneflow_ai.guardrails.actions import LONGEST_PLACEHOLDER, Placeholders, restore
from oneflow_ai.guardrails.body_text import REPLY_ROOTS, Path, replaced, texts
from oneflow_ai.guardrails.engine import CallGuard
from oneflow_ai.guardrails.output_guard import TEXT_ENDPOINTS


def _placeholders(call: Call) -> Placeholders | None:
    guard = call.guard
    if not isinstance(guard, CallGuard) or not guard.placeholders.values or call.endpoint not in TEXT_ENDPOINTS:
        return None
    return guard.placeholders


class RestoreGuard:
    reads_native = True

    def inspect(self, call: Call, reply: JSONReply) -> JSONReply:
        placeholders = _placeholders(call)
        if placeholders is None:
            return reply
        try:
            body = reply.json()
        except orjson.JSONDecodeError:
            return reply
        changes: dict[Path, str] = {}
        for path, text in texts(body, REPLY_ROOTS):
            new = restore(text, placeholders)
            if new != text:
                changes[path] = new
        if not changes:
            return reply
        restored = replaced(body, changes)
        return JSONReply(orjson.dumps(restored), reply.headers, reply.status, reply.wire, _parsed=restored)

    def open(self, call: Call) -> RestoreWatch | None:
        placeholders = _placeholders(call)
        return None if placeholders is None else RestoreWatch(placeholders)


def held_from(text: str) -> int:
    """Where a `<` that may still become a placeholder starts (`len(text)`: none)."""
    at = text.rfind("<")
    if at == -1 or len(text) - at > LONGEST_PLACEHOLDER or ">" in text[at:]:
        return len(text)
    tail = text[at + 1 :]
    return at if all(c.isupper() or c.isdigit() or c == "_" for c in tail) else len(text)


class RestoreWatch:
    __slots__ = ("_held", "_identity", "_placeholders")

    def __init__(self, placeholders: Placeholders) -> None:
        self._placeholders = placeholders
        self._held: dict[int, str] = {}
        self._identity: dict[str, Any] = {}

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return [chunk]
        if not self._identity:
            self._identity = {k: chunk[k] for k in ("id", "object", "created", "model") if k in chunk}
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            index = choice.get("index", 0) if isinstance(choice, dict) else None
            if not isinstance(delta, dict) or not isinstance(index, int):
                continue
            content = delta.get("content")
            if isinstance(content, str) and (content or index in self._held):
                text = self._held.pop(index, "") + content
                cut = len(text) if choice.get("finish_reason") is not None else held_from(text)
                if cut < len(text):
                    self._held[index] = text[cut:]
                delta["content"] = restore(text[:cut], self._placeholders)
            elif choice.get("finish_reason") is not None and index in self._held:
                delta["content"] = restore(self._held.pop(index), self._placeholders)
        return [chunk]

    def finish(self) -> list[dict[str, Any]]:
        out = [
            {**self._identity, "choices": [{"index": i, "delta": {"content": text}, "finish_reason": None}]}
            for i, text in sorted(self._held.items())
            if text
        ]
        self._held.clear()
        return out
