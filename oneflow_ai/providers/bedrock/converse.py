"""Bedrock's Converse API: OpenAI chat bodies to Converse bodies (`to_converse`) and Converse answers back to
`chat.completion` (`from_converse`). Pure: values in, values out.

Translated: `system` and `developer` messages (as `system` blocks, in order), user content parts (`text`,
`image_url` as a base64 `data:` URL: Converse takes image bytes, not links), assistant `tool_calls` (`toolUse`
blocks), `tool` messages (`toolResult` blocks in a user turn; consecutive same-role turns are merged, as Converse
wants roles to alternate), `tools` (`toolConfig.tools[].toolSpec`, the parameters as `inputSchema.json`),
`tool_choice` (`auto`, `required` as `any`, a named function as `tool`; `none` leaves the tools out unless the
conversation already holds tool blocks, which Converse reads only with a `toolConfig`), `max_completion_tokens` /
`max_tokens`, `temperature`, `top_p` and `stop` (`inferenceConfig`).
Dropped, as Converse has no such field: `frequency_penalty`, `presence_penalty`, `logit_bias`, `logprobs`, `seed`,
`response_format`, `parallel_tool_calls`, `stream_options`, `user`, message `name`s.
Refused (400): `n` above 1, content parts other than text and images, image links, tools other than functions.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.providers.base import Usage

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_INFERENCE = (("temperature", "temperature"), ("top_p", "topP"))


def finish_reason(stop_reason: Any) -> str:
    """Converse's `stopReason` as OpenAI's `finish_reason`."""
    return _FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage_of(usage: Any) -> Usage | None:
    """Converse's usage as ours: `inputTokens` counts neither cache reads nor writes, which are prompt tokens too."""
    if not isinstance(usage, dict):
        return None
    read = int(usage.get("cacheReadInputTokens") or 0)
    written = int(usage.get("cacheWriteInputTokens") or 0)
    return Usage(
        int(usage.get("inputTokens") or 0) + read + written, int(usage.get("outputTokens") or 0), read, written
    )


def to_converse(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat-completions body as a Converse body (the model goes in the URL); raises `InvalidRequest`."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: must be a non-empty array", param="messages")
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise InvalidRequest("n: Bedrock models return one choice; n must be 1", param="n")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where}: must be an object", param=where)
        if message.get("role") in ("system", "developer"):
            system += [{"text": text} for text in _texts(message.get("content"), f"{where}.content") if text]
            continue
        role, blocks = _turn(message, where)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = system
    if config := _inference(body):
        out["inferenceConfig"] = config
    if tools := _tool_config(body, turns):
        out["toolConfig"] = tools
    return out


def _inference(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    for ours, theirs in _INFERENCE:
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    return config


def _turn(message: dict[str, Any], where: str) -> tuple[str, list[dict[str, Any]]]:
    """One OpenAI message as Converse's (role, content blocks)."""
    role = message.get("role")
    if role == "user":
        return "user", _blocks(message.get("content"), f"{where}.content")
    if role == "assistant":
        blocks = _blocks(message.get("content"), f"{where}.content")
        for k, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not function.get("name") or not call.get("id"):
                raise InvalidRequest(
                    f"{where}.tool_calls[{k}]: needs an id and a function name", param=f"{where}.tool_calls[{k}]"
                )
            arguments = _arguments(function.get("arguments"), f"{where}.tool_calls[{k}].function.arguments")
            blocks.append({"toolUse": {"toolUseId": call["id"], "name": function["name"], "input": arguments}})
        return "assistant", blocks
    if role == "tool":
        if not isinstance(message.get("tool_call_id"), str):
            raise InvalidRequest(f"{where}.tool_call_id: required in a tool message", param=f"{where}.tool_call_id")
        content = [{"text": text} for text in _texts(message.get("content"), f"{where}.content")]
        return "user", [{"toolResult": {"toolUseId": message["tool_call_id"], "content": content or [{"text": ""}]}}]
    raise InvalidRequest(f"{where}.role: {role!r} is not supported for Bedrock models", param=f"{where}.role")


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """A message's content as Converse content blocks; empty text is left out, as Converse refuses it."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}: must be a string or an array of content parts", param=where)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            if text := part.get(kind):
                blocks.append({"text": str(text)})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), f"{where}[{j}].image_url"))
        else:
            raise InvalidRequest(
                f"{where}[{j}]: content part {kind!r} is not supported for Bedrock models", param=f"{where}[{j}]"
            )
    return blocks


def _image(image_url: Any, where: str) -> dict[str, Any]:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if isinstance(url, str) and url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        image_format = _IMAGE_FORMATS.get(media_type.lower())
        if encoding == "base64" and image_format and data:
            return {"image": {"format": image_format, "source": {"bytes": data}}}  # a blob is base64 in JSON
    raise InvalidRequest(
        f"{where}: Bedrock takes an image as a base64 data: URL (png, jpeg, gif or webp), not a link", param=where
    )


def _texts(content: Any, where: str) -> list[str]:
    """A string, or the texts of an array of text parts."""
    if content is None or isinstance(content, str):
        return [content] if content else []
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return [str(p.get("text") or "") for p in content]
    raise InvalidRequest(f"{where}: must be a string or an array of text parts", param=where)


def _arguments(arguments: Any, where: str) -> dict[str, Any]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"{where}: must be a JSON object", param=where)
    return parsed


def _tool_config(body: dict[str, Any], turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    tools, choice = body.get("tools"), body.get("tool_choice")
    if not tools:
        return None
    if not isinstance(tools, list):
        raise InvalidRequest("tools: must be an array", param="tools")
    has_tool_blocks = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
    if choice == "none" and not has_tool_blocks:
        return None
    specs = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not function.get("name"):
            raise InvalidRequest(
                f"tools[{i}]: only function tools are supported for Bedrock models", param=f"tools[{i}]"
            )
        spec: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            spec["description"] = function["description"]
        spec["inputSchema"] = {"json": function.get("parameters") or {"type": "object", "properties": {}}}
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if choice in (None, "none"):
        return config
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    else:
        raise InvalidRequest("tool_choice: must be auto, none, required or a named function", param="tool_choice")
    return config


def from_converse(response: dict[str, Any], *, model: str, completion_id: str, created: int) -> dict[str, Any]:
    """A Converse answer as an OpenAI `chat.completion` (Converse names neither the answer nor the model: `model`
    and `completion_id` are given); reasoning blocks are left out."""
    message = (response.get("output") or {}).get("message") or {}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(use := block.get("toolUse"), dict):
            function = {"name": use.get("name"), "arguments": orjson.dumps(use.get("input") or {}).decode()}
            calls.append({"id": use.get("toolUseId"), "type": "function", "function": function})
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        reply["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": reply,
        "logprobs": None,
        "finish_reason": finish_reason(response.get("stopReason")),
    }
    out: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
    }
    if (usage := usage_of(response.get("usage"))) is not None:
        out["usage"] = usage.to_openai()
    return out
