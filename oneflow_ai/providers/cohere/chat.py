"""OpenAI chat completions as Cohere's chat v2 (`POST /v2/chat`), both ways (pure translation).

Cohere's v2 messages are close to OpenAI's: roles `system`, `user`, `assistant` (with `tool_calls` in OpenAI's
shape, and a `tool_plan`) and `tool` (with `tool_call_id`); `developer` becomes `system`. User content parts
`text` and `image_url` pass as they are (Cohere's vision models take both). `tools` pass; `tool_choice`
`required` / `none` are `REQUIRED` / `NONE` (Cohere has no named choice: a named function is `REQUIRED` with that
tool alone). `top_p` is `p`, `max_completion_tokens` / `max_tokens` `max_tokens`, `stop` `stop_sequences`;
`temperature`, `seed`, `frequency_penalty`, `presence_penalty` pass; `response_format` is `json_object`, with its
`json_schema` when one is given. Dropped: `n` (1 only: refused above), `logit_bias`, `logprobs`, `user`,
`parallel_tool_calls`, `stream_options`.
"""

from __future__ import annotations

from typing import Any

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.providers.base import Usage

_FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "stop",
    "TIMEOUT": "stop",
}


def to_cohere(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat-completions body as a Cohere v2 chat body; raises `InvalidRequest`."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: must be a non-empty array", param="messages")
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise InvalidRequest("n: Cohere models return one choice; n must be 1", param="n")
    out: dict[str, Any] = {"model": body.get("model"), "messages": [_message(m, i) for i, m in enumerate(messages)]}
    tools, choice = body.get("tools"), body.get("tool_choice")
    if tools:
        if not isinstance(tools, list) or not all(isinstance(t, dict) and t.get("type") == "function" for t in tools):
            raise InvalidRequest("tools: only function tools are supported for Cohere models", param="tools")
        out["tools"] = tools
        if isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
            named = choice["function"]["name"]
            out["tools"] = [t for t in tools if (t.get("function") or {}).get("name") == named]
            out["tool_choice"] = "REQUIRED"
        elif choice in ("required", "none"):
            out["tool_choice"] = str(choice).upper()
        elif choice not in (None, "auto"):
            raise InvalidRequest("tool_choice: must be auto, none, required or a named function", param="tool_choice")
    for openai_key, cohere_key in (
        ("temperature", "temperature"),
        ("top_p", "p"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
    ):
        if body.get(openai_key) is not None:
            out[cohere_key] = body[openai_key]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        out["max_tokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        out["response_format"] = {"type": "json_object"}
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            out["response_format"]["json_schema"] = schema
    if body.get("stream"):
        out["stream"] = True
    return out


def _message(message: Any, i: int) -> dict[str, Any]:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise InvalidRequest(f"{where}: must be an object", param=where)
    role = message.get("role")
    content = message.get("content")
    if role in ("system", "developer"):
        return {"role": "system", "content": _content(content, f"{where}.content", images=False)}
    if role == "user":
        return {"role": "user", "content": _content(content, f"{where}.content", images=True)}
    if role == "assistant":
        out: dict[str, Any] = {"role": "assistant"}
        if content:
            out["content"] = _content(content, f"{where}.content", images=False)
        if message.get("tool_calls"):
            out["tool_calls"] = message["tool_calls"]
        return out
    if role == "tool":
        if not isinstance(message.get("tool_call_id"), str):
            raise InvalidRequest(f"{where}.tool_call_id: required in a tool message", param=f"{where}.tool_call_id")
        return {
            "role": "tool",
            "tool_call_id": message["tool_call_id"],
            "content": _content(content, f"{where}.content", images=False),
        }
    raise InvalidRequest(f"{where}.role: {role!r} is not supported for Cohere models", param=f"{where}.role")


def _content(content: Any, where: str, *, images: bool) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}: must be a string or an array of content parts", param=where)
    allowed = ("text", "image_url") if images else ("text",)
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in allowed:
            kind = part.get("type") if isinstance(part, dict) else None
            raise InvalidRequest(
                f"{where}[{j}]: content part {kind!r} is not supported here for Cohere models", param=f"{where}[{j}]"
            )
    return content


# --- answers ----------------------------------------------------------------------------------------------------


def finish_reason(reason: Any) -> str:
    return _FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def usage_of(usage: Any) -> Usage | None:
    """Cohere's usage as ours: its `billed_units` (what it charges: the prompt template's own tokens are not
    billed), else its `tokens`."""
    if not isinstance(usage, dict):
        return None
    counts = usage.get("billed_units") or usage.get("tokens")
    if not isinstance(counts, dict):
        return None
    return Usage(int(counts.get("input_tokens") or 0), int(counts.get("output_tokens") or 0))


def from_cohere(response: dict[str, Any], *, model: str, created: int) -> dict[str, Any]:
    """A Cohere v2 chat answer as an OpenAI `chat.completion` (the `tool_plan` is left out)."""
    reply = response.get("message") or {}
    texts = [
        str(part.get("text") or "")
        for part in reply.get("content") or ()
        if isinstance(part, dict) and part.get("type") == "text"
    ]
    calls = [
        {
            "id": call.get("id"),
            "type": "function",
            "function": {
                "name": (call.get("function") or {}).get("name"),
                "arguments": (call.get("function") or {}).get("arguments") or "{}",
            },
        }
        for call in reply.get("tool_calls") or ()
        if isinstance(call, dict)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(response.get("finish_reason")),
    }
    out: dict[str, Any] = {
        "id": response.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
    }
    usage = usage_of(response.get("usage"))
    if usage is not None:
        out["usage"] = usage.to_openai()
    return out
