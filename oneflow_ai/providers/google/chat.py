"""OpenAI chat completions as Gemini `generateContent` bodies (pure translation; the answers back: `reply`).

`to_gemini`: `system` and `developer` messages become `systemInstruction`; `user` turns stay `user` and
`assistant` turns become `model` (consecutive turns of one role are merged, so the parallel answers to several
tool calls share one turn, as Gemini wants); content parts `text` and `image_url` (a base64 `data:` URL as
`inlineData`, any other URL as `fileData`); assistant `tool_calls` as `functionCall` parts and `tool` messages as
`functionResponse` parts (named after the call they answer); `tools` as `functionDeclarations` and `tool_choice`
as `toolConfig`; `temperature`, `top_p`, `max_completion_tokens` / `max_tokens`, `stop`, `n`, `seed`,
`presence_penalty`, `frequency_penalty` and `response_format` (JSON, with its schema) as `generationConfig`.
Dropped, as Gemini has no such field: `logit_bias`, `logprobs`, `user`, `stream_options`, `parallel_tool_calls`,
`reasoning_effort` (Gemini's thinking budget is left at the model's default).
Refused (400): content parts other than text and images, tools other than functions.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.providers.google.reply import SIGNATURE_MARK

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_UNSUPPORTED_SCHEMA_KEYS = frozenset({"$schema", "additionalProperties", "strict", "$id", "$comment"})
"""JSON Schema keywords that Gemini's `Schema` (an OpenAPI subset) refuses: removed from tool parameters and
response schemas."""


def to_gemini(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat-completions body as a Gemini `generateContent` body; raises `InvalidRequest`."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: must be a non-empty array", param="messages")
    names = _call_names(messages)
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where}: must be an object", param=where)
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(p for p in _parts(message.get("content"), f"{where}.content", images=False))
            continue
        parts = _turn_parts(message, role, where, names)
        if not parts:
            continue
        gemini_role = "model" if role == "assistant" else "user"
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    if body.get("tools"):
        out["tools"] = [{"functionDeclarations": _declarations(body["tools"])}]
        config = _tool_config(body.get("tool_choice"))
        if config is not None:
            out["toolConfig"] = config
    generation = _generation_config(body)
    if generation:
        out["generationConfig"] = generation
    return out


def _call_names(messages: list[Any]) -> dict[str, str]:
    """Each assistant tool call's id and its function's name: Gemini names a function's answer, OpenAI ids it."""
    names: dict[str, str] = {}
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "assistant":
            for call in message.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(call.get("id"), str):
                    names[call["id"]] = str(function.get("name") or "")
    return names


def _turn_parts(message: dict[str, Any], role: Any, where: str, names: dict[str, str]) -> list[dict[str, Any]]:
    if role == "user":
        return _parts(message.get("content"), f"{where}.content", images=True)
    if role == "assistant":
        parts = _parts(message.get("content"), f"{where}.content", images=False)
        for k, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not function.get("name"):
                raise InvalidRequest(
                    f"{where}.tool_calls[{k}]: needs a function name", param=f"{where}.tool_calls[{k}]"
                )
            arguments = _object(function.get("arguments"), f"{where}.tool_calls[{k}].function.arguments")
            part: dict[str, Any] = {"functionCall": {"name": function["name"], "args": arguments}}
            _, mark, signature = str(call.get("id") or "").partition(SIGNATURE_MARK)
            if mark and signature:
                part["thoughtSignature"] = signature
            parts.append(part)
        return parts
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or call_id not in names:
            raise InvalidRequest(
                f"{where}.tool_call_id: must name a tool call of an earlier assistant message",
                param=f"{where}.tool_call_id",
            )
        text = "".join(p["text"] for p in _parts(message.get("content"), f"{where}.content", images=False))
        return [{"functionResponse": {"name": names[call_id], "response": _response(text)}}]
    raise InvalidRequest(f"{where}.role: {role!r} is not supported for Gemini models", param=f"{where}.role")


def _parts(content: Any, where: str, *, images: bool) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}: must be a string or an array of content parts", param=where)
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            if text := part.get(kind):
                parts.append({"text": str(text)})
        elif kind == "image_url" and images:
            parts.append(_image(part.get("image_url"), f"{where}[{j}].image_url"))
        else:
            raise InvalidRequest(
                f"{where}[{j}]: content part {kind!r} is not supported here for Gemini models", param=f"{where}[{j}]"
            )
    return parts


def _image(image_url: Any, where: str) -> dict[str, Any]:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if isinstance(url, str) and url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if encoding == "base64" and media_type and data:
            return {"inlineData": {"mimeType": media_type, "data": data}}
    elif isinstance(url, str) and "://" in url:
        return {"fileData": {"mimeType": _mime_of(url), "fileUri": url}}
    raise InvalidRequest(f"{where}: an image must be a URL or a base64 data: URL", param=where)


def _mime_of(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for suffix, mime in ((".png", "image/png"), (".webp", "image/webp"), (".gif", "image/gif")):
        if path.endswith(suffix):
            return mime
    return "image/jpeg"


def _object(arguments: Any, where: str) -> dict[str, Any]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"{where}: must be a JSON object", param=where)
    return parsed


def _response(text: str) -> dict[str, Any]:
    """A tool's answer as a `functionResponse.response` (an object): a JSON object as it is, anything else as its
    `content`."""
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"content": text}


def _declarations(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("tools: must be an array", param="tools")
    out = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not function.get("name"):
            raise InvalidRequest(
                f"tools[{i}]: only function tools are supported for Gemini models", param=f"tools[{i}]"
            )
        spec: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            spec["description"] = function["description"]
        if function.get("parameters"):
            spec["parameters"] = gemini_schema(function["parameters"])
        out.append(spec)
    return out


def gemini_schema(schema: Any) -> Any:
    """A JSON Schema without the keywords Gemini's `Schema` refuses."""
    if isinstance(schema, dict):
        return {k: gemini_schema(v) for k, v in schema.items() if k not in _UNSUPPORTED_SCHEMA_KEYS}
    if isinstance(schema, list):
        return [gemini_schema(v) for v in schema]
    return schema


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"functionCallingConfig": {"mode": _TOOL_MODES[choice]}}
    if isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}}
    raise InvalidRequest("tool_choice: must be auto, none, required or a named function", param="tool_choice")


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for openai_key, gemini_key in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(openai_key) is not None:
            out[gemini_key] = body[openai_key]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        out["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        out["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(body.get("n"), int) and body["n"] > 1:
        out["candidateCount"] = body["n"]
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        out["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            out["responseSchema"] = gemini_schema(schema)
    return out
