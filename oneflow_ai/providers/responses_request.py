"""OpenAI's Responses API, inbound: a `POST /v1/responses` request as a chat-completions body, for any provider.

Pure translation, named by direction (`chat_from_responses`; the answer's way back is `responses_reply`).
Translated: `model`; `input` as a string or as items: messages (`role` user, assistant, system or developer, which
becomes system; with `input_text`, `input_image` by URL, `input_file` with `file_data`, `output_text` and `refusal`
parts), `function_call` items (as the assistant's `tool_calls`) and `function_call_output` items (as `tool` messages);
`instructions` (a system message first); `tools` of type `function` and `tool_choice`; `parallel_tool_calls`;
`max_output_tokens` (as `max_tokens`); `temperature`; `top_p`; `text.format` (`json_schema` and `json_object` as
`response_format`); `reasoning.effort` (as `reasoning_effort`); `user` (or `safety_identifier`); `stream`.
Dropped, as chat completions has no such thing or the gateway stores nothing: `store` (the answer says
`store: false`), `metadata`, `include`, `truncation`, `service_tier`, `prompt_cache_key`, `text.verbosity`,
`reasoning.summary`, `top_logprobs`, `max_tool_calls`, `stream_options`, and `reasoning` input items.
Untranslatable (`Untranslatable`): what needs OpenAI's stored state or its built-in tools (`previous_response_id`,
`conversation`, `prompt`, `item_reference` items, built-in and custom tools and their call items, files by
`file_id`): such a call goes only to an OpenAI deployment, untranslated (`gateway.passthrough`); a 400 naming the
field when none serves it. Refused for every provider: `background: true` (its answer would be polled from OpenAI,
unseen and so uncounted by the gateway, which does not serve `GET /v1/responses/{id}`).
"""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.errors import InvalidRequest, Untranslatable

STATEFUL = ("previous_response_id", "conversation", "prompt")
"""Fields that point at what OpenAI stored: the gateway keeps no conversation state to resolve them."""
_ROLES = frozenset({"user", "assistant", "system", "developer"})
_SIMPLE_CHOICES = frozenset({"auto", "none", "required"})


def chat_from_responses(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses request as a chat-completions body; raises `InvalidRequest` (or `Untranslatable`)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("You must provide a model parameter.", param="model", code="missing_model")
    for name in STATEFUL:
        if body.get(name) is not None:
            raise Untranslatable(
                f"'{name}' refers to state stored by OpenAI; this gateway keeps no conversation state, so only an "
                "OpenAI deployment can serve it. Send the whole conversation in 'input' instead.",
                param=name,
            )
    if body.get("background"):  # its answer is fetched later from OpenAI, where the gateway cannot count it
        raise InvalidRequest(
            "'background' responses are polled with GET /v1/responses/{id}, which this gateway does not serve; "
            "send the request without 'background' (streamed, if it is long).",
            param="background",
        )
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidRequest("'instructions' must be a string.", param="instructions")
        if instructions:
            messages.append({"role": "system", "content": instructions})
    messages += chat_messages(body.get("input"))
    if not messages:
        raise InvalidRequest("'input' must be a non-empty string or array of input items.", param="input")
    out: dict[str, Any] = {"model": model, "messages": messages}
    limit = body.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidRequest("'max_output_tokens' must be a positive integer.", param="max_output_tokens")
    for ours, theirs in (("max_output_tokens", "max_tokens"), ("temperature", "temperature"), ("top_p", "top_p")):
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    if body.get("parallel_tool_calls") is not None:
        out["parallel_tool_calls"] = body["parallel_tool_calls"]
    if body.get("tools"):
        out["tools"] = _chat_tools(body["tools"])
        if body.get("tool_choice") is not None:
            out["tool_choice"] = _chat_tool_choice(body["tool_choice"])
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        out["response_format"] = response_format
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        out["reasoning_effort"] = reasoning["effort"]
    user = body.get("user") if body.get("user") is not None else body.get("safety_identifier")
    if user is not None:
        out["user"] = user
    stream = body.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise InvalidRequest("'stream' must be a boolean.", param="stream")
        out["stream"] = stream
        if stream:
            out["stream_options"] = {"include_usage": True}
    return out


def stand_in_for_responses(body: dict[str, Any]) -> dict[str, Any]:
    """For a request with no chat form (`Untranslatable`): the fields the gateway's own checks and token estimate
    read, never sent to an upstream (the native body is)."""
    value = body.get("input")
    text = value if isinstance(value, str) else orjson.dumps(value).decode() if value is not None else ""
    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    if isinstance(body.get("instructions"), str):
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    out: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if isinstance(body.get("max_output_tokens"), int):
        out["max_tokens"] = body["max_output_tokens"]
    for name in ("stream", "user"):
        if body.get(name) is not None:
            out[name] = body[name]
    return out


def chat_messages(value: Any) -> list[dict[str, Any]]:
    """`input` as chat messages: consecutive `function_call` items join the assistant turn before them."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise InvalidRequest("'input' must be a string or an array of input items.", param="input")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item, where))
        elif kind == "function_call":
            _add_call(out, item, where)
        elif kind == "function_call_output":
            out.append({"role": "tool", "tool_call_id": _string(item, "call_id", where), "content": _output(item)})
        elif kind == "reasoning":
            continue  # an earlier turn's reasoning: chat completions has no place for it
        elif kind == "item_reference":
            raise Untranslatable(
                f"'{where}' refers to an item stored by OpenAI; this gateway keeps no conversation state, so only an "
                "OpenAI deployment can serve it. Send the item itself (the Vercel AI SDK does with store: false).",
                param=where,
            )
        else:
            raise Untranslatable(
                f"'{where}': input item '{kind}' has no chat form; only OpenAI can serve it.", param=where
            )
    return out


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in _ROLES:
        message = f"'{where}.role' must be one of user, assistant, system, developer."
        raise InvalidRequest(message, param=f"{where}.role")
    if role == "developer":  # OpenAI's newer name for system instructions; every chat server knows `system`
        role = "system"
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(f"'{where}.content' must be a string or an array.", param=f"{where}.content")
    parts = [_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
    if role != "user" or all(p["type"] == "text" for p in parts):  # only user turns take images and files
        texts = [p["text"] for p in parts if p["type"] == "text"]
        if len(texts) != len(parts):
            raise InvalidRequest(f"'{where}.content': only a user message may carry images or files.", param=where)
        return {"role": role, "content": "".join(texts) if role == "assistant" else "\n\n".join(texts)}
    return {"role": role, "content": parts}


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal") or "")}
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        image = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and isinstance(part.get("file_data"), str):
        return {"type": "file", "file": {"filename": part.get("filename") or "file", "file_data": part["file_data"]}}
    if kind in ("input_image", "input_file", "input_audio"):
        raise Untranslatable(
            f"'{where}': a {kind} by id or URL has no chat form; only OpenAI can serve it.", param=where
        )
    # a part type this translation does not know may still be one OpenAI's API takes: passed through to OpenAI only
    raise Untranslatable(f"'{where}.type' has no chat form; only OpenAI can serve it.", param=f"{where}.type")


def _add_call(out: list[dict[str, Any]], item: dict[str, Any], where: str) -> None:
    arguments = item.get("arguments")
    call = {
        "id": _string(item, "call_id", where),
        "type": "function",
        "function": {
            "name": _string(item, "name", where),
            "arguments": arguments if isinstance(arguments, str) else "",
        },
    }
    last = out[-1] if out else None
    if last is not None and last["role"] == "assistant" and isinstance(last.get("content"), str | None):
        last.setdefault("tool_calls", []).append(call)
        if last.get("content") == "":
            last["content"] = None
    else:
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _output(item: dict[str, Any]) -> str:
    output = item.get("output")
    if isinstance(output, str):
        return output
    if isinstance(output, list):  # content parts: the text ones
        return "".join(str(p.get("text") or "") for p in output if isinstance(p, dict))
    return orjson.dumps(output).decode()


def _string(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"'{where}.{name}' must be a non-empty string.", param=f"{where}.{name}")
    return value


def _chat_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array.", param="tools")
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise Untranslatable(
                f"'tools[{i}]': a {kind} tool has no chat form; only OpenAI can serve it.", param=f"tools[{i}]"
            )
        function = {"name": _string(tool, "name", f"tools[{i}]")}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    return out


def _chat_tool_choice(choice: Any) -> Any:
    if choice in _SIMPLE_CHOICES:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise Untranslatable(
        "'tool_choice' other than auto, none, required or a function has no chat form.", param="tool_choice"
    )


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {k: fmt[k] for k in ("name", "description", "schema", "strict") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise Untranslatable(
        "'text.format.type' other than text, json_object or json_schema has no chat form.", param="text.format.type"
    )
