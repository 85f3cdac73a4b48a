"""OpenAI's Responses API, outbound: a chat completion as a `response` object (`responses_from_chat`).

Pure translation, named by direction (the request's way is `responses_request`, a stream's is `responses_stream`).
The first choice becomes the output: its text (or refusal) as one `message` item, each tool call as a
`function_call` item. `finish_reason: length` makes the response `incomplete` (`max_output_tokens`), a content
filter too (`content_filter`). The request's settings are echoed as OpenAI echoes them; `store` is `false`, since
the gateway keeps nothing. Ids are new for every response (`resp_`, `msg_`, `fc_`); `model` is the name the caller
asked for.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from oneflow_ai.providers.base import Usage

INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
"""Chat finish reasons that leave a response incomplete, and the reason the Responses API gives."""


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def responses_from_chat(completion: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A `chat.completion` as a Responses `response`, for the Responses `request` it answers."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    incomplete = INCOMPLETE.get(choice.get("finish_reason") or "")
    item_status = "incomplete" if incomplete else "completed"
    output: list[dict[str, Any]] = []
    text, refusal = _text(message.get("content")), message.get("refusal")
    if text or (isinstance(refusal, str) and refusal):
        part = output_text(text) if text else {"type": "refusal", "refusal": refusal}
        output.append(message_item(new_id("msg_"), [part], item_status))
    for call in message.get("tool_calls") or ():
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        call_id = call.get("id") or new_id("call_")
        arguments = function.get("arguments")
        item = function_call_item(new_id("fc_"), str(call_id), str(function.get("name") or ""), "completed")
        output.append({**item, "arguments": arguments if isinstance(arguments, str) else ""})
    usage = Usage.from_openai(completion.get("usage"))
    reasoning = _reasoning_tokens(completion.get("usage"))
    return response_object(
        request,
        new_id("resp_"),
        int(time.time()),
        "incomplete" if incomplete else "completed",
        output,
        usage=responses_usage_object(usage, reasoning) if usage is not None else None,
        incomplete=incomplete,
    )


def response_object(
    request: dict[str, Any],
    response_id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    *,
    usage: dict[str, Any] | None = None,
    incomplete: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `response` object, with the request's settings echoed."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "model": request.get("model"),
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": (request.get("reasoning") or {}).get("effort"), "summary": None},
        "store": False,
        "temperature": request.get("temperature"),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": "disabled",
        "usage": usage,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def message_item(item_id: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(item_id: str, call_id: str, name: str, status: str, arguments: str = "") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def responses_usage_object(usage: Usage, reasoning_tokens: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": usage.cache_write_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _reasoning_tokens(usage: Any) -> int:
    details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
    return int(details.get("reasoning_tokens") or 0) if isinstance(details, dict) else 0


def _text(content: Any) -> str:
    if isinstance(content, list):  # some OpenAI-compatible servers answer with content parts
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""
