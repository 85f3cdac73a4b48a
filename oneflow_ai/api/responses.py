"""Response types for the hot path: raw JSON bytes, and an SSE stream that stops when the client leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from oneflow_ai.errors import GatewayError
from oneflow_ai.gateway.call import JSONReply, StreamReply


class JSONBytes(Response):
    media_type = "application/json"


def error_response(error: GatewayError) -> JSONBytes:
    """The OpenAI error JSON. (The edge adds `x-request-id` to every response.)"""
    return JSONBytes(orjson.dumps(error.body()), status_code=error.status, headers=dict(error.headers))


class SSEStream(Response):
    """Relays frames as they come. A client disconnect cancels the relay, which closes the upstream."""

    def __init__(self, frames: AsyncIterator[bytes], headers: Mapping[str, str]) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.frames = frames

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            if not pump.done():
                pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await pump
            await self.frames.aclose()  # type: ignore[attr-defined]

    async def _pump(self, send: Send) -> None:
        async for chunk in self.frames:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def to_response(reply: JSONReply | StreamReply) -> Response:
    if isinstance(reply, StreamReply):
        return SSEStream(reply.frames, reply.headers)
    return JSONBytes(reply.body, status_code=reply.status, headers=dict(reply.headers))
