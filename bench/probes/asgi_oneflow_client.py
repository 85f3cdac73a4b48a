"""Probe: a raw ASGI relay through OneFlow's own HTTP client (`oneflow_ai.upstream.http.HTTPTransport`)."""

from __future__ import annotations

import os
from typing import Any

import orjson

from oneflow_ai.config.schema import Timeouts
from oneflow_ai.upstream.http import HTTPTransport
from oneflow_ai.upstream.wire import UpstreamRequest

UPSTREAM = os.environ.get("PROBE_UPSTREAM", "http://127.0.0.1:18001/v1/chat/completions")
JSON = {"content-type": "application/json"}
HEADERS = [(b"content-type", b"application/json")]
TIMEOUTS = Timeouts(connect=5.0, read=60.0, stream_idle=60.0)
state: dict[str, HTTPTransport] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["transport"] = HTTPTransport()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["transport"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    request = orjson.loads(b"".join(chunks))
    request["model"] = "upstream-model"
    upstream = UpstreamRequest("POST", UPSTREAM, JSON, orjson.dumps(request), TIMEOUTS, "probe")
    response = await state["transport"].send(upstream, stream=False)
    body = await response.read()
    usage = orjson.loads(body).get("usage")
    assert usage is not None
    await send({"type": "http.response.start", "status": response.status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})
