"""A streamed answer back into the chat completion it stands for, so that a stream fills the cache like a reply.

`Assembler` is fed each OpenAI chunk of the stream (a parsed dict) in order: per choice, the content, refusal and
reasoning deltas are joined, tool calls merged by their index (id, type, name; arguments joined), the finish
reason kept; the usage chunk's usage is kept. `completion()` is the chat completion, or None when the stream is
not one a cache may keep: an error chunk, a chunk it cannot read, or a choice that never finished (cut off).
"""

from __future__ import annotations

from typing import Any

TEXT_FIELDS = ("content", "refusal", "reasoning_content")


class _Choice:
    __slots__ = ("finish_reason", "role", "texts", "tools")

    def __init__(self) -> None:
        self.role = "assistant"
        self.texts: dict[str, list[str]] = {}
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None

    def feed(self, delta: dict[str, Any]) -> bool:
        if isinstance(delta.get("role"), str):
            self.role = delta["role"]
        for name in TEXT_FIELDS:
            text = delta.get(name)
            if isinstance(text, str):
                self.texts.setdefault(name, []).append(text)
        for call in delta.get("tool_calls") or ():
            if not isinstance(call, dict) or not isinstance(call.get("index", 0), int):
                return False
            tool = self.tools.setdefault(call.get("index", 0), {"function": {"arguments": ""}})
            for name in ("id", "type"):
                if call.get(name):
                    tool[name] = call[name]
            function = call.get("function") or {}
            if function.get("name"):
                tool["function"]["name"] = function["name"]
            if isinstance(function.get("arguments"), str):
                tool["function"]["arguments"] += function["arguments"]
        return True

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": None}
        for name, parts in self.texts.items():
            message[name] = "".join(parts)
        if self.tools:
            message["tool_calls"] = [{"type": "function", **self.tools[i]} for i in sorted(self.tools)]
        return message


class Assembler:
    __slots__ = ("_choices", "_head", "_ok", "usage")

    def __init__(self) -> None:
        self._choices: dict[int, _Choice] = {}
        self._head: dict[str, Any] = {}
        self._ok = True
        self.usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> None:
        if not self._ok:
            return
        if "error" in chunk or not isinstance(chunk.get("choices", []), list):
            self._ok = False
            return
        if not self._head:
            self._head = {k: chunk[k] for k in ("id", "created", "model", "system_fingerprint") if k in chunk}
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for c in chunk.get("choices") or ():
            if not isinstance(c, dict) or not isinstance(c.get("index", 0), int):
                self._ok = False
                return
            choice = self._choices.setdefault(c.get("index", 0), _Choice())
            if not choice.feed(c.get("delta") or {}):
                self._ok = False
                return
            if c.get("finish_reason"):
                choice.finish_reason = c["finish_reason"]

    def completion(self) -> dict[str, Any] | None:
        if not self._ok or not self._choices or any(c.finish_reason is None for c in self._choices.values()):
            return None
        choices = [
            {"index": i, "message": c.message(), "logprobs": None, "finish_reason": c.finish_reason}
            for i, c in sorted(self._choices.items())
        ]
        out: dict[str, Any] = {"object": "chat.completion", **self._head, "choices": choices}
        if self.usage is not None:
            out["usage"] = self.usage
        return out
