"""Probe: a raw ASGI relay with one shared aiohttp session (served by uvicorn or granian)."""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import orjson

UPSTREAM = os.environ.get("PROBE_UPSTREAM", "http://127.0.0.1:18001/v1/chat/completions")
JSON = {"content-type": "application/json"}
HEADERS = [(b"content-type", b"application/json")]
state: dict[str, aiohttp.ClientSession] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["session"].close()
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
    async with state["session"].post(UPSTREAM, data=orjson.dumps(request), headers=JSON) as r:
        body = await r.read()
        status = r.status
    usage = orjson.loads(body).get("usage")
    assert usage is not None
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})
