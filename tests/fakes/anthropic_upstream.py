"""A fake Anthropic Messages API speaking Anthropic's exact wire format (events, framing, error bodies).

Upstream model `claude-error` answers 529 overloaded; `claude-400` a 400 invalid_request_error; anything
else answers, with a `tool_use` block when the request offers tools.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

INPUT_TOKENS = 21
OUTPUT_TOKENS = 9
TEXT = "Hello from fake Claude."


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

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append({"path": request.path_qs, "headers": dict(request.headers), "body": body})
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
                "usage": {
                    "input_tokens": INPUT_TOKENS,
                    "output_tokens": OUTPUT_TOKENS,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
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
                    "usage": {
                        "input_tokens": INPUT_TOKENS,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            },
        )
        await event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        await event("ping", {"type": "ping"})
        for piece in ("Hello", " from fake", " Claude."):
            await event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
            await asyncio.sleep(0.001)
        await event("content_block_stop", {"type": "content_block_stop", "index": 0})
        if use_tool:
            await event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
                },
            )
            for piece in ('{"city":', ' "Paris"}'):
                await event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                )
            await event("content_block_stop", {"type": "content_block_stop", "index": 1})
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
