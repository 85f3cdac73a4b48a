"""The server protocol's own answers over real sockets, from `oneflow serve`: header limits (431), a request that
is not HTTP (400), a slow client (408); each is OpenAI error JSON with the edge's security headers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from oneflow_ai.api.edge import API_HEADERS
from tests.conftest import MASTER_KEY
from tests.fakes.subprocess_gateway import Served, SubprocessGateways

MAX_HEADER_BYTES = 8192
MAX_HEADERS = 20


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    gateways = SubprocessGateways(Path(tmp_path_factory.mktemp("protocol")))
    env = {
        "ONEFLOW_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "ONEFLOW_MAX_HEADERS": str(MAX_HEADERS),
        "ONEFLOW_HEADER_TIMEOUT_S": "0.5",
        "ONEFLOW_BODY_TIMEOUT_S": "0.5",
    }
    yield gateways.start(env=env)
    gateways.stop_all()


def connect(served: Served) -> socket.socket:
    host, port = served.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def answer(s: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    """Everything the server writes before it closes the connection: status, headers, JSON body."""
    data = b""
    while chunk := recv(s):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["content-length"]) == len(body)
    return int(lines[0].split(" ")[1]), headers, json.loads(body)


def recv(s: socket.socket) -> bytes:
    try:
        return s.recv(65536)
    except ConnectionResetError:  # the server closed with bytes of ours still unread
        return b""


def send_all(s: socket.socket, data: bytes) -> None:
    """Send what the server reads before it refuses and closes; the rest may meet a closed socket."""
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def assert_refused(status: int, headers: dict[str, str], body: dict[str, object], expected: int, code: str) -> None:
    assert status == expected
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    for name, value in API_HEADERS:
        assert headers[name.decode()] == value.decode()
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == code and error["message"]


def request(*headers: str) -> bytes:
    lines = ["GET /health HTTP/1.1", "host: x", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_headers_within_the_limits_are_served(served: Served) -> None:
    fill = "v" * (MAX_HEADER_BYTES // 2)
    with connect(served) as s:
        s.sendall(request(*(f"x-h{i}: 1" for i in range(MAX_HEADERS - 2)), f"x-big: {fill}"))
        assert s.recv(65536).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(request(f"x-big: {'v' * MAX_HEADER_BYTES}"), id="one-large-header"),
        pytest.param(request(*(f"x-h{i}: {'v' * 600}" for i in range(15))), id="large-in-total"),
        pytest.param(request(*(f"x-h{i}: 1" for i in range(MAX_HEADERS))), id="too-many"),
        pytest.param(request(*(f"x-h{i}: 1" for i in range(10_000))), id="ten-thousand"),
        pytest.param(b"GET /health?" + b"q" * MAX_HEADER_BYTES + b" HTTP/1.1\r\nhost: x\r\n\r\n", id="long-url"),
    ],
)
def test_headers_over_the_limits_are_431(served: Served, data: bytes) -> None:
    with connect(served) as s:
        send_all(s, data)
        assert_refused(*answer(s), 431, "headers_too_large")


def test_a_header_that_never_ends_is_431_before_it_is_whole(served: Served) -> None:
    """8 MB of one header's value, sent in pieces without its end: refused once the head passed the limit, not
    buffered to the end (the server closes while the client is still sending)."""
    with connect(served) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: ")
        piece = b"v" * 4096
        sent = 0
        try:
            while sent < 8 * 1024 * 1024:
                s.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 8 * 1024 * 1024
        status, headers, body = answer(s)
    assert_refused(status, headers, body, 431, "headers_too_large")


def test_malformed_http_is_a_json_400(served: Served) -> None:
    with connect(served) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n")
        assert_refused(*answer(s), 400, "invalid_http")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GET /health HTTP/1.1\r\nhost: x\r\n", id="headers-never-end"),
        pytest.param(
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {MASTER_KEY}\r\n"
            'content-type: application/json\r\ncontent-length: 100\r\n\r\n{"model": "de'.encode(),
            id="body-stalls",
        ),
    ],
)
def test_a_slow_client_gets_a_json_408(served: Served, data: bytes) -> None:
    with connect(served) as s:
        s.sendall(data)
        assert_refused(*answer(s), 408, "request_timeout")


def test_a_stalled_next_request_on_a_kept_alive_connection_gets_its_408(served: Served) -> None:
    with connect(served) as s:
        s.sendall(request())
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(b'{"status":"ok"}')
        s.sendall(b"GET /health HTTP/1.1\r\n")  # the next request's headers stall
        assert_refused(*answer(s), 408, "request_timeout")
