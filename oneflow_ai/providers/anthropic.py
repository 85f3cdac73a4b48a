"""Anthropic's Messages API, outbound: OpenAI-format chat requests served by Claude.

Pure translation, named by direction: `to_anthropic` turns an OpenAI chat-completions body into a Messages
body, `from_anthropic` a Messages answer into a `chat.completion`, and `AnthropicStream` (in
`anthropic_stream`) Anthropic's SSE events into `chat.completion.chunk` frames.

Translated: `system` and `developer` messages (joined into the top-level `system`), user content parts
(`text`, `image_url` as a `data:` base64 URL or an http(s) URL), assistant `tool_calls`, `tool` messages
(as `tool_result` blocks; consecutive same-role turns are merged, as Anthropic wants roles to alternate),
`tools`, `tool_choice`, `parallel_tool_calls: false`, `max_completion_tokens` / `max_tokens` (4096 when
absent, as Anthropic requires one), `temperature`, `top_p`, `stop`, `user` and `stream`.
Dropped without error, as the Messages API has no such field: `frequency_penalty`, `presence_penalty`,
`logit_bias`, `logprobs`, `seed`, `response_format`, `stream_options`, `reasoning_effort`, message `name`s.
Rejected (400): `n` above 1, content parts other than text and images, tools other than functions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import ContextWindowExceeded, InvalidRequest, UpstreamError, upstream_error_for_status
from oneflow_ai.providers.anthropic_stream import AnthropicStream, finish_reason, usage_of
from oneflow_ai.providers.auth import Auth, header_key
from oneflow_ai.providers.base import ProviderResult, keep_rate_limit
from oneflow_ai.upstream.sse import SSEParser
from oneflow_ai.upstream.wire import UpstreamRequest

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_TOOL_CHOICES = {"auto": "auto", "none": "none", "required": "any"}
_PROMPT_TOO_LONG = ("prompt is too long", "exceed context limit")
_JOIN = "\n\n"
"""How several system prompts, or the text parts of one system or tool message, become one string."""


class AnthropicProvider:
    """Speaks Anthropic's `POST /v1/messages` at the deployment's base URL."""

    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        return header_key("x-api-key", deployment.resolve_key(environ), deployment.headers)

    def chat_request(self, body: dict[str, Any], deployment: Deployment, *, stream: bool) -> UpstreamRequest:
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION, **deployment.headers}
        payload = orjson.dumps(to_anthropic({**body, "stream": stream}))
        url = f"{deployment.url}/v1/messages"
        return UpstreamRequest("POST", url, headers, payload, deployment.timeouts, deployment.provider)

    def chat_response(self, body: bytes, deployment: Deployment) -> ProviderResult:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or parsed.get("type") != "message":
            raise UpstreamError(
                f"{deployment.provider} sent a response that is not a message", provider=deployment.provider
            )
        completion = from_anthropic(parsed, created=int(time.time()))
        return ProviderResult(orjson.dumps(completion), usage_of(parsed.get("usage")), completion["model"], completion)

    def chat_stream(self, deployment: Deployment, *, client_wants_usage: bool) -> AnthropicStream:
        return AnthropicStream(deployment.provider, client_wants_usage=client_wants_usage, created=int(time.time()))

    def stream_decoder(self, deployment: Deployment) -> SSEParser:
        return SSEParser()

    def error(self, status: int, body: bytes, headers: Mapping[str, str], deployment: Deployment) -> UpstreamError:
        return anthropic_error(status, body, headers, deployment.provider, deployment=deployment.id)


def to_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat-completions body as an Anthropic Messages body; raises `InvalidRequest`."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: must be a non-empty array", param="messages")
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise InvalidRequest("n: Anthropic models return one choice; n must be 1", param="n")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where}: must be an object", param=where)
        if message.get("role") in ("system", "developer"):
            if text := _text(message.get("content"), f"{where}.content"):
                system.append(text)
            continue
        role, blocks = _turn(message, where)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
    out: dict[str, Any] = {
        "model": body.get("model"),
        "messages": [_collapsed(t) for t in turns],
        "max_tokens": max_tokens,
    }
    if system:
        out["system"] = _JOIN.join(system)
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    if body.get("stream"):
        out["stream"] = True
    return out


def _turn(message: dict[str, Any], where: str) -> tuple[str, list[dict[str, Any]]]:
    """One OpenAI message as Anthropic's (role, content blocks)."""
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
            blocks.append({"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments})
        return "assistant", blocks
    if role == "tool":
        if not isinstance(message.get("tool_call_id"), str):
            raise InvalidRequest(f"{where}.tool_call_id: required in a tool message", param=f"{where}.tool_call_id")
        result = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
        return "user", [{**result, "content": _text(message.get("content"), f"{where}.content")}]
    raise InvalidRequest(f"{where}.role: {role!r} is not supported for Anthropic models", param=f"{where}.role")


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """A message's content as Anthropic content blocks; empty text is left out, as Anthropic refuses it."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}: must be a string or an array of content parts", param=where)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            if text := part.get(kind):
                blocks.append({"type": "text", "text": str(text)})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), f"{where}[{j}].image_url"))
        else:
            raise InvalidRequest(
                f"{where}[{j}]: content part {kind!r} is not supported for Anthropic models", param=f"{where}[{j}]"
            )
    return blocks


def _image(image_url: Any, where: str) -> dict[str, Any]:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if isinstance(url, str) and url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if encoding == "base64" and media_type and data:
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    elif isinstance(url, str) and url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(f"{where}: an image must be an http(s) URL or a base64 data: URL", param=where)


def _text(content: Any, where: str) -> str:
    """A string, or an array of text parts joined into one."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return _JOIN.join(str(p.get("text") or "") for p in content)
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


def _collapsed(turn: dict[str, Any]) -> dict[str, Any]:
    """A turn holding one plain text block is sent with string content, the shortest form."""
    content = turn["content"]
    if len(content) == 1 and content[0].keys() == {"type", "text"}:
        return {"role": turn["role"], "content": content[0]["text"]}
    return turn


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("tools: must be an array", param="tools")
    out = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not function.get("name"):
            raise InvalidRequest(
                f"tools[{i}]: only function tools are supported for Anthropic models", param=f"tools[{i}]"
            )
        spec: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            spec["description"] = function["description"]
        spec["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
        out.append(spec)
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICES):
        out: dict[str, Any] = {"type": _TOOL_CHOICES[choice or "auto"]}
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise InvalidRequest("tool_choice: must be auto, none, required or a named function", param="tool_choice")
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def from_anthropic(response: dict[str, Any], *, created: int) -> dict[str, Any]:
    """An Anthropic `message` as an OpenAI `chat.completion`; thinking blocks are left out."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in response.get("content") or ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            function = {"name": block.get("name"), "arguments": orjson.dumps(block.get("input") or {}).decode()}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    usage = usage_of(response.get("usage"))
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(response.get("stop_reason")),
    }
    out = {
        "id": response.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": response.get("model"),
        "choices": [choice],
    }
    if usage is not None:
        out["usage"] = usage.to_openai()
    return out


def anthropic_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str, *, deployment: str = ""
) -> UpstreamError:
    """Anthropic's error body (`{"type": "error", "error": {"type", "message"}}`) as our error, message kept
    (except for a refused credential, 401/403: see `upstream_error_for_status`)."""
    detail: Any = None
    try:
        parsed = orjson.loads(body)
        detail = parsed.get("error") if isinstance(parsed, dict) else None
    except orjson.JSONDecodeError:
        pass
    detail = detail if isinstance(detail, dict) else {}
    message = str(detail.get("message") or body[:500].decode(errors="replace") or f"HTTP {status}")
    if status == 400 and any(phrase in message.lower() for phrase in _PROMPT_TOO_LONG):
        err: UpstreamError = ContextWindowExceeded(message, param="messages", provider=provider, upstream_status=status)
    else:
        err = upstream_error_for_status(status, f"{provider}: {message}", provider=provider, deployment=deployment)
    return keep_rate_limit(err, headers)
