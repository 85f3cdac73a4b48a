"""`http_cycle.Cycle` (uvicorn's cycle with one write per sized response) over real HTTP, and its writes."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from oneflow_ai.api.http_cycle import Cycle, cycle_of
from tests.fakes.runner import UvicornServer

JSON = b'{"ok":true}'
SERVED: list[weakref.ReferenceType[Cycle]] = []
"""The cycles that served `/tracked` (weakly: the test asks whether they are freed)."""


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    sized = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(JSON))]
    if path == "/json":
        await send({"type": "http.response.start", "status": 200, "headers": [*sized, (b"X-Mixed-Case", b"v")]})
        await send({"type": "http.response.body", "body": JSON})
    elif path == "/split":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"hello", "more_body": True})
        await send({"type": "http.response.body", "body": b"world"})
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await asyncio.sleep(0.5)
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/close":
        await send({"type": "http.response.start", "status": 200, "headers": [*sized, (b"connection", b"Close")]})
        await send({"type": "http.response.body", "body": JSON})
    elif path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/injected":
        headers = [(b"content-length", b"2"), (b"x-bad", b"v\r\nset-cookie: evil=1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"no"})
    elif path == "/cycle":  # which cycle serves this request
        name = type(send.__self__).__qualname__.encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(name))]})
        await send({"type": "http.response.body", "body": name})
    elif path == "/tracked":  # the cycle the fast lane would ask `client_gone` (for a stream)
        cycle = cycle_of(scope)
        assert cycle is not None
        SERVED.append(weakref.ref(cycle))
        del cycle
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
    elif path == "/too-long":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
        await send({"type": "http.response.body", "body": b"12345"})


@pytest.fixture(scope="module")
def server() -> Iterator[UvicornServer]:
    served = UvicornServer(lambda: app)
    yield served
    served.stop()


def connect(server: UvicornServer) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request(s: socket.socket, path: str, method: str = "GET", version: str = "1.1") -> None:
    s.sendall(f"{method} {path} HTTP/{version}\r\nhost: x\r\n\r\n".encode())


def read_head(s: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_exactly(s: socket.socket, rest: bytes, n: int) -> bytes:
    while len(rest) < n:
        chunk = s.recv(4096)
        assert chunk, rest
        rest += chunk
    return rest


def closed(s: socket.socket) -> bool:
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True


def test_sized_answers_keep_the_connection(server: UvicornServer) -> None:
    with connect(server) as s:
        for path, body in (("/json", JSON), ("/split", b"helloworld"), ("/json", JSON)):
            request(s, path)
            head, rest = read_head(s)
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert b"transfer-encoding" not in head and b"connection: close" not in head
            assert b"\r\nx-mixed-case: v" in head or path != "/json"  # names lowered, as uvicorn does
            assert read_exactly(s, rest, len(body)) == body


def test_the_server_protocol_serves_with_our_cycle(server: UvicornServer) -> None:
    with connect(server) as s:
        request(s, "/cycle")
        _, rest = read_head(s)
        assert read_exactly(s, rest, 5) == b"Cycle"


def test_a_served_request_leaves_no_reference_cycle(server: UvicornServer) -> None:
    """The scope refers to its cycle weakly (the cycle holds the scope): once the connection is gone, reference
    counting frees the cycle, its scope and its event at once. A strong reference left all of them to the garbage
    collector, kept alive past the request (4,464 such cycles after a 2-second load in `bench.workers`)."""
    SERVED.clear()
    gc.collect()
    gc.disable()  # nothing but reference counting may free what the requests leave
    try:
        for _ in range(3):
            with connect(server) as s:
                request(s, "/tracked")
                _, rest = read_head(s)
                assert read_exactly(s, rest, 2) == b"ok"
        deadline = time.monotonic() + 5
        while any(ref() is not None for ref in SERVED) and time.monotonic() < deadline:
            time.sleep(0.01)  # the server's thread sees each connection close on its next turn
        assert len(SERVED) == 3
        assert all(ref() is None for ref in SERVED), "a served request's cycle is kept alive by a reference cycle"
    finally:
        gc.enable()


def test_pipelined_requests_are_answered_in_order(server: UvicornServer) -> None:
    with connect(server) as s:
        s.sendall(b"GET /split HTTP/1.1\r\nhost: x\r\n\r\nGET /cycle HTTP/1.1\r\nhost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"Cycle"):
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
    first, second = data.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert first.endswith(b"\r\n\r\nhelloworld") and second.endswith(b"\r\n\r\nCycle")


def test_head_request_gets_the_length_and_no_body(server: UvicornServer) -> None:
    with connect(server) as s:
        request(s, "/json", method="HEAD")
        head, rest = read_head(s)
        assert b"content-length: 11" in head and rest == b""
        request(s, "/json")  # still open, and nothing of a body was left on the wire
        head, rest = read_head(s)
        assert head.startswith(b"HTTP/1.1 200") and read_exactly(s, rest, len(JSON)) == JSON


def test_a_stream_gets_its_head_before_its_first_chunk(server: UvicornServer) -> None:
    with connect(server) as s:
        started = time.monotonic()
        request(s, "/stream")
        head, rest = read_head(s)
        assert time.monotonic() - started < 0.4 and rest == b""  # the body waits 0.5 s; the head did not
        assert b"transfer-encoding: chunked" in head
        assert read_exactly(s, rest, 15) == b"5\r\nfirst\r\n0\r\n\r\n"


def test_connection_close_and_http_1_0_close_after_the_answer(server: UvicornServer) -> None:
    with connect(server) as s:
        request(s, "/close")
        head, rest = read_head(s)
        assert read_exactly(s, rest, len(JSON)) == JSON and closed(s)
    with connect(server) as s:
        request(s, "/json", version="1.0")
        head, rest = read_head(s)
        assert b"connection: close" in head and read_exactly(s, rest, len(JSON)) == JSON and closed(s)


def test_no_content_has_no_framing(server: UvicornServer) -> None:
    with connect(server) as s:
        request(s, "/empty")
        head, rest = read_head(s)
        assert head.startswith(b"HTTP/1.1 204") and b"transfer-encoding" not in head and rest == b""


@pytest.mark.parametrize("path", ["/injected", "/too-long"])
def test_a_broken_answer_never_reaches_the_client(server: UvicornServer, path: str) -> None:
    with connect(server) as s:
        request(s, path)
        assert closed(s)  # nothing written: no injected header, no body longer than its length


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        return None


class Flow:
    write_paused = False


def cycle(transport: Transport, *, access_log: bool = False) -> Cycle:
    log = logging.getLogger("test.access")
    scope = {"method": "POST", "path": "/v1/x", "query_string": b"", "http_version": "1.1", "client": ("1.2.3.4", 5)}
    return Cycle(scope, transport, Flow(), log, log, access_log, [], asyncio.Event(), False, True, lambda: None)  # type: ignore[arg-type]


async def test_a_sized_answer_is_one_write_and_a_stream_starts_at_once() -> None:
    t = Transport()
    c = cycle(t)
    await c.send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"11")]})
    assert t.writes == []
    await c.send({"type": "http.response.body", "body": JSON})
    assert t.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n" + JSON] and c.response_complete
    t = Transport()
    c = cycle(t)
    await c.send({"type": "http.response.start", "status": 200, "headers": []})
    assert t.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]


async def test_the_access_log_is_uvicorns_when_it_is_on(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="test.access"):
        await cycle(Transport()).send({"type": "http.response.start", "status": 200, "headers": []})
        assert caplog.messages == []
        await cycle(Transport(), access_log=True).send({"type": "http.response.start", "status": 201, "headers": []})
    assert caplog.messages == ['1.2.3.4:5 - "POST /v1/x HTTP/1.1" 201']
