"""The fake OpenAI upstream (`tests.fakes.openai_upstream`), counting each call it received and each it served to
its last byte, by a marker unique to the call: the body's `user` field (which the gateway also records as the
ledger's `end_user`, so that a call seen upstream is matched with its ledger record).

It can be told to fail: a request whose `x-fake-deployment` header (set by a deployment's `headers`) names a member
of `failing` is answered 500, counted in `failed` by that name. A body with `fake_chunks: N` streams N chunks
`fake_interval_s` apart (default 0.05 s) before its finish chunk, usage (when asked) and `[DONE]`: a slow stream
of a known length, for drains.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import OpenAIUpstream, error, usage


class CountingUpstream(OpenAIUpstream):
    def __init__(self, *, require_key: str | None = None) -> None:
        super().__init__(require_key=require_key)
        self.arrived: Counter[str] = Counter()
        """Calls received, by marker (the body's `user`)."""
        self.served: Counter[str] = Counter()
        """Calls answered to their last byte (the whole JSON body, or a stream through `[DONE]`), by marker."""
        self.failing: set[str] = set()
        self.failed: Counter[str] = Counter()
        """Calls answered 500 because their `x-fake-deployment` was failing, by that name."""

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = await request.json()
        marker = str(body.get("user"))
        self.arrived[marker] += 1
        deployment = request.headers.get("x-fake-deployment", "")
        if deployment in self.failing:
            self.failed[deployment] += 1
            return error(500, "The server had an error while processing your request.", "server_error")
        if body.get("fake_chunks"):
            response = await self.chunked(request, body)
        else:
            response = await super().chat(request)
        if not response.prepared:  # a JSON answer: written here, so that `served` counts it once it is sent
            await response.prepare(request)
            await response.write_eof()
        if response.status == 200:
            self.served[marker] += 1
        return response

    async def chunked(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        base = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1700000000, "model": body["model"]}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            await response.write(f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode())

        for _ in range(int(body["fake_chunks"])):
            await send([{"index": 0, "delta": {"content": "word "}, "finish_reason": None}])
            await asyncio.sleep(float(body.get("fake_interval_s", 0.05)))
        await send([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if include_usage:
            await send([], usage=usage())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
