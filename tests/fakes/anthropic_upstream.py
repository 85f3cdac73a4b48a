"""A fake Anthropic Messages API speaking Anthropic's exact wire format (events, framing, error bodies).

Upstream model `claude-error` answers 529 overloaded; `claude-400` a 400 invalid_request_error;
`claude-cut` streams its first events and then drops the connection; `claude-stream-error` streams its first
events and then an `event: error` (overloaded); anything else answers, with a `tool_use` block when the request
offers tools, a `thinking` block first when it enables thinking, and (as Anthropic's prompt cache does) cache
writes and reads in its usage when any part of it has a `cache_control` mark. Each request is kept in
`received`: its path, headers, the body as parsed and the raw bytes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

INPUT_TOKENS = 21
OUTPUT_TOKENS = 9
TEXT = "Hello from fake Claude."
THINKING = "The user greets me; I greet back."
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
CACHE_WRITE_TOKENS = 1200
"""`cache_creation_input_tokens` of a request with a `cache_control` mark (the 5-minute cache)."""
CACHE_READ_TOKENS = 2400
"""`cache_read_input_tokens` of a request with a `cache_control` mark."""
COUNTED_TOKENS = 37
"""What `POST /v1/messages/count_tokens` answers."""


def has_cache_control(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(has_cache_control(v) for v in value.values())
    if isinstance(value, list):
        return any(has_cache_control(v) for v in value)
    return False


def usage(body: dict[str, Any], output_tokens: int) -> dict[str, Any]:
    """Anthropic's usage object: `input_tokens` counts neither the cache reads nor the writes."""
    cached = has_cache_control(body)
    written = CACHE_WRITE_TOKENS if cached else 0
    return {
        "input_tokens": INPUT_TOKENS,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": CACHE_READ_TOKENS if cached else 0,
        "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def thinks(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


def error(status: int, type_: str, message: str) -> web.Response:
    return web.json_response(
        {"type": "error", "error": {"type": type_, "message": message}},
        status=status,
        headers={"request-id": "req_fake"},
    )


class AnthropicUpstream:
    def __init__(self, *, require_key: str | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.require_key = require_key
        self.app = web.Application()
        self.app.router.add_post("/v1/messages", self.messages)
        self.app.router.add_post("/v1/messages/count_tokens", self.count_tokens)

    async def count_tokens(self, request: web.Request) -> web.Response:
        """`{"input_tokens": COUNTED_TOKENS}`, as Anthropic answers a count (no `max_tokens` needed)."""
        raw = await request.read()
        body = json.loads(raw)
        self.received.append({"path": request.path_qs, "headers": dict(request.headers), "body": body, "raw": raw})
        if "anthropic-version" not in request.headers:
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        if self.require_key and request.headers.get("x-api-key") != self.require_key:
            return error(401, "authentication_error", "invalid x-api-key")
        if body["model"] == "claude-error":
            return error(529, "overloaded_error", "Overloaded")
        return web.json_response({"input_tokens": COUNTED_TOKENS})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        self.received.append({"path": request.path_qs, "headers": dict(request.headers), "body": body, "raw": raw})
        if "anthropic-version" not in request.headers:
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        if self.require_key and request.headers.get("x-api-key") != self.require_key:
            return error(401, "authentication_error", "invalid x-api-key")
        if "max_tokens" not in body:
            return error(400, "invalid_request_error", "max_tokens: Field required")
        if body["model"] == "claude-error":
            return error(529, "overloaded_error", "Overloaded")
        if body["model"] == "claude-400":
            return error(400, "invalid_request_error", "messages: roles must alternate")
        use_tool = bool(body.get("tools"))
        if body.get("stream"):
            return await self.stream(request, body, use_tool)
        content: list[dict[str, Any]] = [{"type": "text", "text": TEXT}]
        if thinks(body):
            content.insert(0, {"type": "thinking", "thinking": THINKING, "signature": SIGNATURE})
        if use_tool:
            content.append({"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}})
        return web.json_response(
            {
                "id": "msg_fake1",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": "tool_use" if use_tool else "end_turn",
                "stop_sequence": None,
                "usage": usage(body, OUTPUT_TOKENS),
            }
        )

    async def stream(self, request: web.Request, body: dict[str, Any], use_tool: bool) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "request-id": "req_fake",
            }
        )
        await response.prepare(request)

        async def event(name: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        await event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake2",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": body["model"],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage(body, 1),
                },
            },
        )
        index = 0
        if thinks(body):
            block = {"type": "thinking", "thinking": "", "signature": ""}
            await event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
            for delta in (
                {"type": "thinking_delta", "thinking": THINKING},
                {"type": "signature_delta", "signature": SIGNATURE},
            ):
                await event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            await event("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        await event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
        )
        await event("ping", {"type": "ping"})
        for n, piece in enumerate(("Hello", " from fake", " Claude.")):
            await event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
            )
            if n == 0 and body["model"] == "claude-cut":
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-stream
                return response
            if n == 0 and body["model"] == "claude-stream-error":
                await event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                await response.write_eof()
                return response
            await asyncio.sleep(0.001)
        await event("content_block_stop", {"type": "content_block_stop", "index": index})
        if use_tool:
            await event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index + 1,
                    "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
                },
            )
            for piece in ('{"city":', ' "Paris"}'):
                await event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index + 1,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                )
            await event("content_block_stop", {"type": "content_block_stop", "index": index + 1})
        await event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use" if use_tool else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": OUTPUT_TOKENS},
            },
        )
        await event("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response
