"""A fake OpenAI upstream whose answer the test scripts: the pieces of the answer (`pieces`), sent as one message or
as one SSE chunk each, in OpenAI's exact chat completion wire format. Every request body is kept in `received`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class ScriptedUpstream:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.pieces: list[str] = ["Hello."]
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(body)
        identity = {"id": "chatcmpl-scripted", "created": 1700000000, "model": body["model"]}
        usage = {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(self.pieces)}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return web.json_response({**identity, "object": "chat.completion", "choices": [choice], "usage": usage})
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {**identity, "object": "chat.completion.chunk", "choices": choices, **extra}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for piece in self.pieces:
            await send([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        await send([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            await send([], usage=usage)
        await response.write(b"data: [DONE]\n\n")
        return response
