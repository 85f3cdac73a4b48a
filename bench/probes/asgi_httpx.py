"""Probe: a raw ASGI relay with one shared httpx.AsyncClient (served by uvicorn)."""

from __future__ import annotations

import os
from typing import Any

import httpx
import orjson

UPSTREAM = os.environ.get("PROBE_UPSTREAM", "http://127.0.0.1:18001/v1/chat/completions")
JSON = {"content-type": "application/json"}
HEADERS = [(b"content-type", b"application/json")]
state: dict[str, httpx.AsyncClient] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
                state["client"] = httpx.AsyncClient(limits=limits)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["client"].aclose()
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
    r = await state["client"].post(UPSTREAM, content=orjson.dumps(request), headers=JSON)
    body = r.content
    usage = orjson.loads(body).get("usage")
    assert usage is not None
    await send({"type": "http.response.start", "status": r.status_code, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})
