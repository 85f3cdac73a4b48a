"""Issue 15 #5, through the real app: an upstream that read the request and dropped the connection without
answering may be generating (and charging) for it, so the call is never sent to that deployment again (not on a
new connection, not in a later round); the fallback serves it. With no other deployment the client gets 502
`upstream_connection_lost`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.runner import LoopThread


class ReadsThenHangsUp:
    """A raw upstream that reads each request whole, counts it, and closes the connection without a byte."""

    def __init__(self) -> None:
        self.requests = 0
        self.url = ""
        self._loop = LoopThread()
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if b"content-length" in line)
        await reader.readexactly(length)
        self.requests += 1
        writer.close()

    def start(self) -> None:
        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

        self._loop.run(start())

    def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        self._loop.stop()


@pytest.fixture
def hangs_up() -> Iterator[ReadsThenHangsUp]:
    server = ReadsThenHangsUp()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_request_the_upstream_read_is_not_sent_again_anywhere(
    start_gateway: Any, openai_upstream: Any, hangs_up: ReadsThenHangsUp, stream: bool
) -> None:
    fake, good = openai_upstream
    key = "provider: openai, api_key: env:UPSTREAM_KEY"
    flaky = f"{{{key}, base_url: '{hangs_up.url}/v1', model: m}}"
    gw = start_gateway(
        config_yaml=(
            "routing: {max_attempts: 3}\n"
            "models:\n"
            f"  - {{name: flaky, fallbacks: [good], deployments: [{flaky}]}}\n"
            f"  - {{name: lonely, deployments: [{flaky}]}}\n"
            f"  - {{name: good, deployments: [{{{key}, base_url: '{good.url}/v1', model: gpt-4o-mini}}]}}\n"
        )
    )
    before = len(fake.received)
    body = {"model": "flaky", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    r = httpx.post(gw.url + "/v1/chat/completions", headers=auth, json=body)
    assert r.status_code == 200, r.text
    assert hangs_up.requests == 1  # sent once: not again on a new connection, nor in a later round
    assert len(fake.received) == before + 1  # the fallback served it
    alone = httpx.post(gw.url + "/v1/chat/completions", headers=auth, json={**body, "model": "lonely"})
    assert hangs_up.requests == 2
    assert alone.status_code == 502, alone.text
    assert alone.json()["error"]["code"] == "upstream_connection_lost"
