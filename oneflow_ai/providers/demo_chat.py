"""The `demo` model's chat completions: the whole protocol, deterministic and local, streamed or not.

- Text: "This is OneFlow's demo model. You said: ..." (the last user message, its first 64 words).
- Tools: when function `tools` are given, the answer calls one, honouring `tool_choice` (`none`: never;
  `required`: the first tool; a named function: that one, a 400 when it is not among the tools; `auto`: the first
  tool, unless the last message is a tool's result, which is then answered in text). Its arguments are a minimal
  instance of the tool's `parameters` schema (`demo_schema`); one call per choice.
- `response_format`: `json_schema` answers a minimal instance valid against the schema, `json_object` an object.
- `n` choices; `finish_reason: length` when the answer is cut at `max_tokens` / `max_completion_tokens` tokens.
- A new `id` per response, a `system_fingerprint`; token counts from the gateway's tokenizer
  (`pricing.TokenCounter`): the prompt as `count_messages` counts it (tools included), the answer's text.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.pricing import TokenCounter
from oneflow_ai.providers.demo_schema import instance
from oneflow_ai.upstream.sse import DONE, frame

SYSTEM_FINGERPRINT = "fp_oneflow_demo"
MAX_ECHOED_WORDS = 64


@dataclass(slots=True, frozen=True)
class Choice:
    content: str | None
    tool_call: dict[str, Any] | None
    finish_reason: str


def answer(body: Mapping[str, Any], tokens: TokenCounter) -> tuple[list[Choice], dict[str, int]]:
    """The choices (`n` of them) and the usage; `InvalidRequest` for a `tool_choice` naming no given tool."""
    messages = body.get("messages") or []
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    tool = _tool_to_call(tools, body.get("tool_choice", "auto"), messages)
    given = body.get("n")
    n = given if isinstance(given, int) and given > 0 else 1
    limit = next((body[k] for k in ("max_completion_tokens", "max_tokens") if isinstance(body.get(k), int)), None)
    choices: list[Choice] = []
    for _ in range(n):
        if tool is not None:
            function = tool.get("function") or {}
            arguments = orjson.dumps(instance(function.get("parameters") or {"type": "object"})).decode()
            name = function.get("name")
            call: dict[str, Any] = {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function"}
            call["function"] = {"name": name, "arguments": arguments}
            choices.append(Choice(None, call, "tool_calls"))
            continue
        text, cut = _limited(_content(body, messages), limit, tokens)
        choices.append(Choice(text, None, "length" if cut else "stop"))
    prompt = tokens.count_messages(messages, tools or None)
    completion = sum(tokens.count_text(c.content or (c.tool_call or {})["function"]["arguments"]) for c in choices)
    return choices, {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat(body: Mapping[str, Any], tokens: TokenCounter) -> dict[str, Any]:
    choices, usage = answer(body, tokens)
    out = []
    for i, choice in enumerate(choices):
        message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None}
        if choice.tool_call is not None:
            message["tool_calls"] = [choice.tool_call]
        out.append({"index": i, "message": message, "logprobs": None, "finish_reason": choice.finish_reason})
    return {**_identity(body, "chat.completion"), "choices": out, "usage": usage}


def chat_frames(body: Mapping[str, Any], tokens: TokenCounter) -> list[bytes]:
    choices, usage = answer(body, tokens)
    base = _identity(body, "chat.completion.chunk")

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return frame(orjson.dumps({**base, "choices": [choice]}))

    frames: list[bytes] = []
    for i, choice in enumerate(choices):
        frames.append(chunk(i, {"role": "assistant", "content": "" if choice.tool_call is None else None}))
        if choice.tool_call is not None:
            call, arguments = choice.tool_call, choice.tool_call["function"]["arguments"]
            first = {"index": 0, "id": call["id"], "type": "function"}
            first["function"] = {"name": call["function"]["name"], "arguments": ""}
            frames.append(chunk(i, {"tool_calls": [first]}))
            for piece in _pieces(arguments):
                frames.append(chunk(i, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        else:
            for piece in _pieces(choice.content or ""):
                frames.append(chunk(i, {"content": piece}))
        frames.append(chunk(i, {}, choice.finish_reason))
    if (body.get("stream_options") or {}).get("include_usage"):
        frames.append(frame(orjson.dumps({**base, "choices": [], "usage": usage})))
    frames.append(DONE)
    return frames


def _identity(body: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": body.get("model"),
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _tool_to_call(tools: list[dict[str, Any]], choice: Any, messages: list[Any]) -> dict[str, Any] | None:
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        for tool in tools:
            if (tool.get("function") or {}).get("name") == name:
                return tool
        message = f"Invalid value for 'tool_choice': function '{name}' not found in tools."
        raise InvalidRequest(message, param="tool_choice")
    answered = bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
    return tools[0] if choice == "required" or not answered else None


def _content(body: Mapping[str, Any], messages: list[Any]) -> str:
    said = ""
    for message in messages:
        if isinstance(message, dict) and message.get("role") in ("user", "tool"):
            said = _text(message.get("content"))
    words = " ".join(said.split()[:MAX_ECHOED_WORDS])
    fmt = body.get("response_format")
    fmt = fmt if isinstance(fmt, dict) else {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        return orjson.dumps(instance(schema)).decode()
    if fmt.get("type") == "json_object":
        return orjson.dumps({"model": "OneFlow demo", "you_said": words}).decode()
    return f"This is OneFlow's demo model. You said: {words}".rstrip()


def _limited(text: str, limit: int | None, tokens: TokenCounter) -> tuple[str, bool]:
    """`text` cut to at most `limit` tokens (at a word boundary), and whether it was cut."""
    if limit is None or tokens.count_text(text) <= limit:
        return text, False
    words = text.split(" ")
    low, high = 0, len(words)  # the longest prefix of words within the limit: words[:low]
    while low < high:
        middle = (low + high + 1) // 2
        if tokens.count_text(" ".join(words[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]), True


def _pieces(text: str) -> list[str]:
    """`text` in stream deltas: word by word, each space leading its word."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""
