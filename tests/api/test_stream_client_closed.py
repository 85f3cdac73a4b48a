"""Issue 14: a stream whose client left before the upstream finished is never recorded `ok`.

The upstream here sends its whole answer at once (gzip, one HTTP chunk per piece, a few KB on the wire for 16 MB
of events), so the gateway holds all of it, usage included, from the start. The client reads nothing: the gateway
relays until the socket's buffers are full and waits to write. The client then closes. The relay, resumed, goes
through what it holds without waiting for the upstream and finishes: today that was recorded `ok`. It must be
`client_closed`, charged the upstream's usage (all of it was produced).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.ledger_rows import ledger_rows
from tests.billing.conftest import expected_cost
from tests.conftest import MASTER_KEY
from tests.fakes.runner import LoopThread, free_port

PIECES = 160
EVENTS_PER_PIECE = 100
WORDS_PER_EVENT = 200
COMPLETION_TOKENS = PIECES * EVENTS_PER_PIECE * WORDS_PER_EVENT
PROMPT_TOKENS = 9


def answer_body() -> bytes:
    """The upstream's whole answer: OpenAI stream events, gzip-compressed, each piece its own HTTP chunk."""
    base = {"id": "chatcmpl-big", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    delta = {**base, "choices": [{"index": 0, "delta": {"content": "word " * WORDS_PER_EVENT}, "finish_reason": None}]}
    event = b"data: " + json.dumps(delta).encode() + b"\n\n"
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS, "total_tokens": 0}
    tail = [
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": usage},
    ]
    pieces = [event * EVENTS_PER_PIECE for _ in range(PIECES)]
    pieces.append(b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in tail) + b"data: [DONE]\n\n")
    gzip = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunks = [gzip.compress(p) + gzip.flush(zlib.Z_SYNC_FLUSH) for p in pieces] + [gzip.flush()]
    return b"".join(b"%x\r\n%b\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"


class WholeAnswerUpstream:
    """A local OpenAI-compatible server that writes its whole streamed answer in one write."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.answered = threading.Event()
        self.body = answer_body()
        self._loop = LoopThread()
        self._server = self._loop.run(asyncio.start_server(self._serve, "127.0.0.1", self.port))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line[15:]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:"))
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
            b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n" + self.body
        )
        await writer.drain()
        self.answered.set()
        writer.close()

    def stop(self) -> None:
        self._server.close()
        self._loop.stop()


@pytest.fixture
def upstream() -> Iterator[WholeAnswerUpstream]:
    served = WholeAnswerUpstream()
    yield served
    served.stop()


def test_a_stream_whose_client_left_before_it_finished_is_client_closed_and_charged(
    start_gateway: Any, upstream: WholeAnswerUpstream, tmp_path: Path
) -> None:
    dep = f"provider: openai, base_url: '{upstream.url}/v1', api_key: env:UPSTREAM_KEY, model: gpt-4o-mini"
    gw = start_gateway(config_yaml=f"models:\n  - {{name: big, deployments: [{{{dep}}}]}}\n")
    body = json.dumps({"model": "big", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing holds little
        s.connect(("127.0.0.1", gw.port))
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer %b\r\ncontent-length: %d\r\n\r\n%b" % (MASTER_KEY.encode(), len(body), body)
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert head.startswith(b"HTTP/1.1 200")
        request_id = head.split(b"\r\nx-request-id: ")[1].split(b"\r\n")[0].decode()
        assert upstream.answered.wait(10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close with a reset
    [row] = ledger_rows(f"sqlite:///{tmp_path / 'data' / 'oneflow.db'}", [request_id], wait_s=30)
    assert (row["status"], row["http_status"]) == ("client_closed", 499)
    assert (row["usage_source"], row["input_tokens"], row["output_tokens"]) == (
        "upstream",
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
    )
    assert row["cost_usd"] == expected_cost("gpt-4o-mini", PROMPT_TOKENS, COMPLETION_TOKENS)
