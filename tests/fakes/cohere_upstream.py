"""A fake Cohere API (v2) speaking Cohere's wire format: `POST /v2/chat` (JSON, or with `"stream": true` SSE events
`event: <type>\\ndata: {"type": <type>, ...}\\n\\n` from message-start to message-end, no `[DONE]`), `POST /v2/embed`
(`embeddings.float`, `meta.billed_units`), and Cohere's error body `{"id", "message"}`.

`authorization: Bearer require_key` is required. Model `command-429` answers 429 with `Retry-After: RETRY_AFTER_S`;
anything else answers, calling the first tool when tools are given. Each request is kept in `received`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

BILLED_INPUT = 13
BILLED_OUTPUT = 9
TEXT_PIECES = ("Hello", " from fake", " Cohere.")
TEXT = "".join(TEXT_PIECES)
ARGUMENT_PIECES = ('{"city": ', '"Paris"}')
RETRY_AFTER_S = 11
VECTOR = [0.25, 0.5, -1.0]
EMBED_BILLED = 6


def usage() -> dict[str, Any]:
    return {
        "billed_units": {"input_tokens": BILLED_INPUT, "output_tokens": BILLED_OUTPUT},
        "tokens": {"input_tokens": BILLED_INPUT + 200, "output_tokens": BILLED_OUTPUT + 1},
    }


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"id": "err-1", "message": message}, status=status, headers=headers)


class CohereUpstream:
    def __init__(self, *, require_key: str | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.require_key = require_key
        self.app = web.Application()
        self.app.router.add_post("/v2/chat", self.chat)
        self.app.router.add_post("/v2/embed", self.embed)

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("authorization") != f"Bearer {self.require_key}":
            return error(401, "invalid api token")
        return None

    async def embed(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append({"path": request.path, "headers": lowered(request), "body": body})
        if (refused := self._refused(request)) is not None:
            return refused
        return web.json_response(
            {
                "id": "embed-1",
                "embeddings": {"float": [VECTOR for _ in body["texts"]]},
                "texts": body["texts"],
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": EMBED_BILLED}},
                "response_type": "embeddings_by_type",
            }
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append({"path": request.path, "headers": lowered(request), "body": body})
        if (refused := self._refused(request)) is not None:
            return refused
        if body.get("model") == "command-429":
            return error(
                429,
                "You are using a Trial key, which is limited to 10 API calls / minute.",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        tool = (body.get("tools") or [{}])[0].get("function", {}).get("name")
        if body.get("stream"):
            return await self.stream(request, tool)
        message: dict[str, Any] = {"role": "assistant"}
        if tool:
            message["tool_plan"] = "I will look up the weather."
            arguments = "".join(ARGUMENT_PIECES)
            message["tool_calls"] = [
                {"id": "get_weather_1", "type": "function", "function": {"name": tool, "arguments": arguments}}
            ]
        else:
            message["content"] = [{"type": "text", "text": TEXT}]
        return web.json_response(
            {"id": "chat-1", "finish_reason": "TOOL_CALL" if tool else "COMPLETE", "message": message, "usage": usage()}
        )

    async def stream(self, request: web.Request, tool: str | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)

        async def event(data: dict[str, Any]) -> None:
            await response.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

        start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
        await event({"id": "chat-2", "type": "message-start", "delta": {"message": start}})
        if tool:
            await event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look it up."}}})
            call = {"id": "get_weather_2", "type": "function", "function": {"name": tool, "arguments": ""}}
            await event({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call}}})
            for piece in ARGUMENT_PIECES:
                delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
                await event({"type": "tool-call-delta", "index": 0, "delta": delta})
            await event({"type": "tool-call-end", "index": 0})
        else:
            content = {"message": {"content": {"type": "text", "text": ""}}}
            await event({"type": "content-start", "index": 0, "delta": content})
            for piece in TEXT_PIECES:
                await event({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}})
            await event({"type": "content-end", "index": 0})
        end = {"finish_reason": "TOOL_CALL" if tool else "COMPLETE", "usage": usage()}
        await event({"type": "message-end", "delta": end})
        await response.write_eof()
        return response


def lowered(request: web.Request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}
