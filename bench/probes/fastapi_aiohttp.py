"""Probe: a FastAPI route (`request: Request` in, `Response(bytes)` out) with one shared aiohttp session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import orjson
from fastapi import FastAPI, Request, Response

UPSTREAM = os.environ.get("PROBE_UPSTREAM", "http://127.0.0.1:18001/v1/chat/completions")
JSON = {"content-type": "application/json"}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
    yield
    await app.state.session.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/chat/completions")
async def chat(request: Request) -> Response:
    payload = orjson.loads(await request.body())
    payload["model"] = "upstream-model"
    session: aiohttp.ClientSession = request.app.state.session
    async with session.post(UPSTREAM, data=orjson.dumps(payload), headers=JSON) as r:
        body = await r.read()
        status = r.status
    usage = orjson.loads(body).get("usage")
    assert usage is not None
    return Response(body, status_code=status, media_type="application/json")
