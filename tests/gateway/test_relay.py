"""Issue 15 #6, through the real app over HTTP: an upstream SSE event whose data spans two `data:` lines, with a
CRLF split between two writes, reaches the client as valid SSE carrying the same JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from tests.conftest import MASTER_KEY
from tests.fakes.runner import AiohttpServer

HEAD = b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
WRITES = [
    b"data: " + HEAD + b"\r",  # the event's first data line; its CRLF is split between two writes
    b'\ndata: "choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\r\n\r\n',
    b"data: " + HEAD + b'"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\r\n\r\n',
    b"data: " + HEAD + b'"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\r\n\r\n',
    b"data: [DONE]\r\n\r\n",
]


async def multi_line_stream(request: web.Request) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for write in WRITES:
        await response.write(write)
    await response.write_eof()
    return response


@pytest.fixture
def upstream() -> Iterator[AiohttpServer]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", multi_line_stream)
    server = AiohttpServer(app)
    yield server
    server.stop()


def test_a_multi_line_data_event_is_relayed_as_valid_sse(start_gateway: Any, upstream: AiohttpServer) -> None:
    dep = f"provider: openai, base_url: '{upstream.url}/v1', api_key: env:UPSTREAM_KEY, model: m"
    gw = start_gateway(config_yaml=f"models:\n  - {{name: multi, deployments: [{{{dep}}}]}}\n")
    body = {"model": "multi", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", headers=headers, json=body, timeout=10) as r:
        assert r.status_code == 200
        raw = r.read()
    events = [event for event in raw.split(b"\n\n") if event]
    for event in events:
        assert all(line.startswith(b"data: ") for line in event.split(b"\n")), raw  # every line a data line
    payloads = [b"\n".join(line[6:] for line in event.split(b"\n")) for event in events]
    assert payloads[-1] == b"[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello"
    assert len(chunks) == 2  # the usage chunk is not relayed: the client did not ask for it
