"""Anthropic's Messages API, inbound: a client speaking `POST /v1/messages` to us, any provider answering.

Pure translation, named by direction: the Anthropic request becomes an OpenAI chat-completions body for the
gateway's pipeline, and the pipeline's OpenAI answer (a `chat.completion`, or `chat.completion.chunk`s) becomes
Anthropic's `message` object or its SSE events. Validation errors name the field in Anthropic's dotted
style (`messages.0.content.1`), since an Anthropic client reads them.

Translated: `model`, `messages` (text, image, document with a base64 PDF or plain-text source, tool_use,
tool_result), `system` (also as a `role: system` message), `max_tokens`, `temperature`, `top_p`,
`stop_sequences`, `metadata.user_id`, `tools` (custom ones), `tool_choice` (with
`disable_parallel_tool_use` -> `parallel_tool_calls: false`) and `stream`.
Dropped without error when an OpenAI deployment serves the call, as no OpenAI field carries them: `top_k`,
`thinking`, `output_config`, `service_tier`, `speed`, `inference_geo`, `container`, `diagnostics`,
`cache_control` (top level and on blocks), `citations`, `context_management`, `mcp_servers`,
`user_profile_id`, `workspace_id`, other `metadata` keys, `thinking`/`redacted_thinking` blocks in assistant
turns, and a tool_result's `is_error`.
Untranslatable (`Untranslatable`): server tools (web search, bash, ...), and blocks with no OpenAI form (file or
URL documents, `search_result`, server tool blocks, file-id images): such a call goes only to an Anthropic
deployment, untranslated (`gateway.passthrough`); a 400 when no Anthropic deployment serves it.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from oneflow_ai.errors import InvalidRequest, Untranslatable, UpstreamError
from oneflow_ai.providers.base import Usage

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error"}
_ERROR_TYPES |= {403: "permission_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error"}
_ERROR_TYPES |= {504: "timeout_error", 529: "overloaded_error"}
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
_JOIN = "\n\n"
"""How several text blocks of one system prompt, assistant turn or tool result become one string."""


def openai_request_from_messages(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request as an OpenAI chat-completions body; raises `InvalidRequest`."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Field required", param="model")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidRequest("max_tokens: Field required, a positive integer", param="max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: Field required, a non-empty array of messages", param="messages")

    out_messages: list[dict[str, Any]] = []
    if body.get("system") is not None:
        system = _joined(body["system"], "system")
        if system:
            out_messages.append({"role": "system", "content": system})
    for i, message in enumerate(messages):
        out_messages.extend(_openai_messages(message, f"messages.{i}"))
    out: dict[str, Any] = {"model": model, "messages": out_messages, "max_tokens": max_tokens}

    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("stop_sequences", "stop")):
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    if body.get("tools"):
        out["tools"] = _openai_tools(body["tools"])
        if body.get("tool_choice") is not None:
            out.update(_openai_tool_choice(body["tool_choice"]))
    stream = body.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise InvalidRequest("stream: must be a boolean", param="stream")
        out["stream"] = stream
        if stream:
            out["stream_options"] = {"include_usage": True}
    return out


def stand_in_for_messages(body: dict[str, Any]) -> dict[str, Any]:
    """For a request with no OpenAI form (`Untranslatable`, raised once `model`, `max_tokens` and `messages` were
    found valid): the fields the gateway's own checks and token estimate read, never sent to an upstream."""
    messages = list(body["messages"])
    if body.get("system") is not None:
        messages.insert(0, {"role": "system", "content": body["system"]})
    out = {k: body[k] for k in ("model", "max_tokens", "stream", "tools") if body.get(k) is not None}
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    return {**out, "messages": messages}


def _openai_messages(message: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
        raise InvalidRequest(f"{where}: must be an object with role 'user' or 'assistant'", param=where)
    role, content = message["role"], message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content: must be a string or an array of blocks", param=f"{where}.content")
    if role == "system":
        return [{"role": "system", "content": _joined(content, f"{where}.content")}]
    if role == "assistant":
        return [_openai_assistant(content, where)]
    return _openai_user(content, where)


def _openai_assistant(blocks: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        kind = _kind(block, f"{where}.content.{j}")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        elif kind not in _SKIPPED_BLOCKS:
            raise _unsupported(kind, f"{where}.content.{j}")
    out: dict[str, Any] = {"role": "assistant", "content": _JOIN.join(texts) if texts or not calls else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _openai_user(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """Tool results become `tool` messages, placed before the user message holding the turn's other parts."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        path = f"{where}.content.{j}"
        kind = _kind(block, path)
        if kind == "tool_result":
            # OpenAI tool messages carry text only: a result's images ride in the user message that follows
            text = _joined(block.get("content"), f"{path}.content", parts)
            results.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text") or "")})
        else:
            parts.append(_media_part(block, kind, path))
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _media_part(block: dict[str, Any], kind: str, where: str) -> dict[str, Any]:
    source = block.get("source")
    source = source if isinstance(source, dict) else {}
    match kind, source.get("type"):
        case "image", "base64":
            return {"type": "image_url", "image_url": {"url": _data_url(source)}}
        case "image", "url":
            return {"type": "image_url", "image_url": {"url": source.get("url")}}
        case "document", "base64":
            name = str(block.get("title") or "document.pdf")
            return {"type": "file", "file": {"filename": name, "file_data": _data_url(source)}}
        case "document", "text":
            return {"type": "text", "text": str(source.get("data") or "")}
    raise _unsupported(f"{kind} ({source['type']} source)" if source.get("type") else kind, where)


def _data_url(source: dict[str, Any]) -> str:
    return f"data:{source.get('media_type')};base64,{source.get('data')}"


def _joined(value: Any, where: str, media: list[dict[str, Any]] | None = None) -> str:
    """A string, or an array of text blocks joined into one; other blocks go to `media`, or are refused."""
    if value is None or isinstance(value, str):
        return value or ""
    if not isinstance(value, list):
        raise InvalidRequest(f"{where}: must be a string or an array of blocks", param=where)
    texts = []
    for k, block in enumerate(value):
        kind = _kind(block, f"{where}.{k}")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif media is None:
            raise InvalidRequest(f"{where}.{k}: only text blocks are allowed here", param=f"{where}.{k}")
        else:
            media.append(_media_part(block, kind, f"{where}.{k}"))
    return _JOIN.join(texts)


def _kind(block: Any, where: str) -> str:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise InvalidRequest(f"{where}: must be a content block object with a 'type'", param=where)
    return str(block["type"])


def _unsupported(kind: str, where: str) -> Untranslatable:
    message = f"{where}: content block '{kind}' has no OpenAI form; only an Anthropic deployment can serve it"
    return Untranslatable(message, param=where)


def _openai_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("tools: must be an array", param="tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not tool.get("name"):
            raise InvalidRequest(f"tools.{i}: must be an object with a 'name'", param=f"tools.{i}")
        if tool.get("type") not in (None, "custom"):
            message = f"tools.{i}: server tool '{tool.get('type')}' has no OpenAI form; only an Anthropic deployment"
            raise Untranslatable(message + " can serve it", param=f"tools.{i}")
        function: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
        if tool.get("strict"):
            function["strict"] = True
        out.append({"type": "function", "function": function})
    return out


def _openai_tool_choice(choice: Any) -> dict[str, Any]:
    kind = choice.get("type") if isinstance(choice, dict) else None
    simple = {"auto": "auto", "any": "required", "none": "none"}
    if kind in simple:
        out: dict[str, Any] = {"tool_choice": simple[kind]}
    elif kind == "tool" and isinstance(choice.get("name"), str):
        out = {"tool_choice": {"type": "function", "function": {"name": choice["name"]}}}
    else:
        raise InvalidRequest("tool_choice: must be auto, any, none or {type: tool, name}", param="tool_choice")
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


def messages_response_from_openai(body: dict[str, Any], requested_model: str) -> dict[str, Any]:
    """An OpenAI `chat.completion` as an Anthropic `message`; the first choice only."""
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = _response_text(message.get("content")) or message.get("refusal")
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        call_id, name = call.get("id") or _new_id("toolu_"), function.get("name") or ""
        content.append(
            {"type": "tool_use", "id": call_id, "name": name, "input": _tool_input(function.get("arguments"))}
        )
    stop_reason = _stop_reason(choice.get("finish_reason"), any(b["type"] == "tool_use" for b in content))
    return _message(body.get("id"), requested_model, content, stop_reason, Usage.from_openai(body.get("usage")))


def _message(openai_id: Any, model: str, content: list[Any], stop: str | None, usage: Usage | None) -> dict[str, Any]:
    return {
        "id": _message_id(openai_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(usage),
    }


def _response_text(content: Any) -> str:
    if isinstance(content, list):  # some OpenAI-compatible servers answer with content parts
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def _tool_input(arguments: Any) -> dict[str, Any]:
    if not arguments or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamError("The upstream model returned tool call arguments that are not a JSON object.")
    return parsed


def _stop_reason(finish_reason: Any, used_tools: bool) -> str:
    if used_tools and finish_reason in (None, "stop"):  # some servers say "stop" after a tool call
        return "tool_use"
    return _STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def _usage(usage: Usage | None) -> dict[str, int]:
    usage = usage or Usage()
    return {
        "input_tokens": max(usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens, 0),
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
    }


def _message_id(openai_id: Any) -> str:
    if not isinstance(openai_id, str) or not openai_id:
        return _new_id("msg_")
    return openai_id if openai_id.startswith("msg_") else f"msg_{openai_id}"


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


class MessagesStreamEncoder:
    """Feed parsed OpenAI `chat.completion.chunk`s (the usage-only one too); get Anthropic SSE frames.

    Blocks are opened in the order their first piece arrives and only one is open at a time, as Anthropic
    does: text, then a `tool_use` block per OpenAI tool_call index. Input tokens are only known from the
    final usage chunk, so `message_start` reports 0 and `message_delta` carries the cumulative totals.
    OpenAI servers stream tool calls one after another; a late piece for an already closed tool block is
    still sent at that block's index rather than dropped.
    """

    __slots__ = ("_finish_reason", "_finished", "_model", "_next_index", "_open", "_started", "_tools", "_usage")

    def __init__(self, requested_model: str) -> None:
        self._model = requested_model
        self._started = False
        self._finished = False
        self._next_index = 0
        self._open: tuple[int, str | int] | None = None  # (block index, "text" or the tool_call index)
        self._tools: dict[int, int] = {}  # OpenAI tool_call index -> block index
        self._finish_reason: str | None = None
        self._usage: Usage | None = None

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out = [] if self._started else [self._message_start(chunk.get("id"))]
        self._usage = Usage.from_openai(chunk.get("usage")) or self._usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if isinstance(text, str) and text:
                if self._open is None or self._open[1] != "text":
                    out += self._start_block("text", {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": text}, self._next_index - 1))
            for call in delta.get("tool_calls") or ():
                out += self._tool_call_piece(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return out

    def finish(self) -> list[bytes]:
        """The closing events: last block stop, `message_delta` (stop reason, usage), `message_stop`."""
        if self._finished:
            return []
        self._finished = True
        out = [] if self._started else [self._message_start(None)]
        out += self._close_block()
        stop_reason = _stop_reason(self._finish_reason, bool(self._tools))
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        out.append(_event("message_delta", {"type": "message_delta", "delta": delta, "usage": _usage(self._usage)}))
        out.append(_event("message_stop", {"type": "message_stop"}))
        return out

    def _message_start(self, openai_id: Any) -> bytes:
        self._started = True
        message = _message(openai_id, self._model, [], None, None)
        return _event("message_start", {"type": "message_start", "message": message})

    def _tool_call_piece(self, call: Any) -> list[bytes]:
        if not isinstance(call, dict):
            return []
        position = call.get("index", 0)
        function = call.get("function") or {}
        out: list[bytes] = []
        if position not in self._tools:
            block = {"type": "tool_use", "id": call.get("id") or _new_id("toolu_"), "name": function.get("name") or ""}
            out += self._start_block(position, {**block, "input": {}})
            self._tools[position] = self._next_index - 1
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}, self._tools[position]))
        return out

    def _start_block(self, key: str | int, block: dict[str, Any]) -> list[bytes]:
        out = self._close_block()
        index = self._next_index
        self._next_index += 1
        self._open = (index, key)
        start = {"type": "content_block_start", "index": index, "content_block": block}
        return [*out, _event("content_block_start", start)]

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open = self._open[0], None
        return [_event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _delta(self, delta: dict[str, Any], index: int) -> bytes:
        return _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def error_event(message: str, type_: str) -> bytes:
    """A mid-stream failure, as Anthropic sends it: `event: error`."""
    return _event("error", {"type": "error", "error": {"type": type_, "message": message}})


def anthropic_error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error JSON for one of our error statuses."""
    type_ = _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": type_, "message": message}}
