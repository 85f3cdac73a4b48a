"""The outbound HTTP/1.1 client against a raw TCP server that writes exact bytes: keep-alive, framing (length,
chunked, close-delimited, gzip), a stale pooled connection, timeouts, failures, streaming and back-pressure, TLS."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from oneflow_ai.config.schema import Timeouts
from oneflow_ai.errors import UpstreamConnectionLost, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from oneflow_ai.upstream.http import HTTPTransport
from oneflow_ai.upstream.wire import UpstreamRequest

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


@asynccontextmanager
async def serve(reply: Reply, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """A server whose every connection runs `reply` (which reads requests with `read_request`)."""
    state = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await reply(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()


def request(
    port: int, path: str = "/v1/chat/completions", *, scheme: str = "http", read_s: float = 5.0
) -> UpstreamRequest:
    return UpstreamRequest(
        "POST",
        f"{scheme}://127.0.0.1:{port}{path}",
        {"content-type": "application/json", "authorization": "Bearer k"},
        b'{"model":"m"}',
        Timeouts(connect=2.0, read=read_s, stream_idle=read_s),
        "fake",
    )


def keep_alive(*responses: bytes, server: list[Server] | None = None) -> Reply:
    """Answers each request on the connection with the next response (then waits for the client to leave)."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            await read_request(reader)
            writer.write(response)
            await writer.drain()
        await reader.read()

    return reply


def response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode() + body


async def test_a_connection_is_kept_alive_and_reused() -> None:
    async with serve(keep_alive(response(b'{"a":1}'), response(b'{"b":2}'))) as server:
        transport = HTTPTransport()
        first = await transport.send(request(server.port), stream=False)
        assert (first.status, await first.read()) == (200, b'{"a":1}')
        second = await transport.send(request(server.port), stream=False)
        assert await second.read() == b'{"b":2}'
        assert server.connections == 1
        await transport.close()


async def test_the_request_carries_its_headers_body_and_length() -> None:
    seen: list[bytes] = []

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(response(b"{}"))
        await reader.read()

    async with serve(reply) as server:
        transport = HTTPTransport()
        await (await transport.send(request(server.port), stream=False)).read()
        await transport.close()
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
    assert f"host: 127.0.0.1:{server.port}".encode() in lines
    assert b"authorization: Bearer k" in lines and b"content-length: 13" in lines
    assert body == b'{"model":"m"}'


async def test_chunked_and_gzip_bodies_are_decoded() -> None:
    payload = b'{"choices":[],"usage":{"prompt_tokens":3}}'
    packed = gzip.compress(payload)
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-encoding: gzip\r\n\r\n"
    for i in range(0, len(packed), 7):
        part = packed[i : i + 7]
        chunked += b"%x\r\n%s\r\n" % (len(part), part)
    chunked += b"0\r\n\r\n"
    async with serve(keep_alive(chunked, response(b"again"))) as server:
        transport = HTTPTransport()
        got = await transport.send(request(server.port), stream=False)
        assert await got.read() == payload
        assert await (await transport.send(request(server.port), stream=False)).read() == b"again"
        assert server.connections == 1  # a chunked body ends cleanly: the connection is reused
        await transport.close()


async def test_a_body_delimited_by_the_connection_closing() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        await writer.drain()

    async with serve(reply) as server:
        transport = HTTPTransport()
        assert await (await transport.send(request(server.port), stream=False)).read() == b"all of it"
        await transport.close()


async def test_a_pooled_connection_the_upstream_closed_is_replaced_without_an_error() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(b"one"))  # keep-alive by default, but the server then closes at once
        await writer.drain()

    async with serve(reply) as server:
        transport = HTTPTransport()
        assert await (await transport.send(request(server.port), stream=False)).read() == b"one"
        await asyncio.sleep(0.05)  # the close reaches the client
        assert await (await transport.send(request(server.port), stream=False)).read() == b"one"
        assert server.connections == 2
        await transport.close()


async def test_a_request_read_on_a_reused_connection_that_then_dies_is_not_sent_again() -> None:
    """The upstream read the second request and dropped the connection without answering: it may be generating
    (and charging) for it, so it is sent exactly once and the call fails, for no retry or fallback to resend."""
    received: list[bytes] = []

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await read_request(reader))
        if len(received) == 1:
            writer.write(response(b"one"))
            await writer.drain()
            received.append(await read_request(reader))  # the second request, read; then the connection drops

    async with serve(reply) as server:
        transport = HTTPTransport()
        assert await (await transport.send(request(server.port), stream=False)).read() == b"one"
        with pytest.raises(UpstreamConnectionLost, match="may have processed") as caught:
            await transport.send(request(server.port), stream=True)
        assert len(received) == 2 and server.connections == 1
        assert not caught.value.deployment_retryable  # never again to this deployment (another may serve it)
        await transport.close()


async def test_a_fresh_connection_that_dies_after_the_request_is_not_resent() -> None:
    received: list[bytes] = []

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await read_request(reader))

    async with serve(reply) as server:
        transport = HTTPTransport()
        with pytest.raises(UpstreamConnectionLost):
            await transport.send(request(server.port), stream=False)
        assert len(received) == 1 and server.connections == 1
        await transport.close()


async def test_a_pooled_connection_that_received_stray_bytes_is_not_reused() -> None:
    """A response nobody asked for after the first one: the next request must not take it as its own answer."""
    stray = response(b"stale")

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(b"one") + stray)
        await writer.drain()
        await reader.read()

    async with serve(reply) as server:
        transport = HTTPTransport()
        assert await (await transport.send(request(server.port), stream=False)).read() == b"one"
        assert await (await transport.send(request(server.port), stream=False)).read() == b"one"
        assert server.connections == 2
        await transport.close()


async def test_a_response_cut_off_midway_is_an_upstream_error() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
        await writer.drain()

    async with serve(reply) as server:
        transport = HTTPTransport()
        got = await transport.send(request(server.port), stream=False)
        with pytest.raises(UpstreamError, match="fake connection failed"):
            await got.read()
        await transport.close()


async def test_no_answer_within_the_read_timeout_is_a_timeout() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(2)

    async with serve(reply) as server:
        transport = HTTPTransport()
        started = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamTimeout):
            await transport.send(request(server.port, read_s=0.2), stream=False)
        assert asyncio.get_running_loop().time() - started < 1.0
        await transport.close()


async def test_a_stream_that_stalls_longer_than_its_idle_timeout_fails() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await asyncio.sleep(2)

    async with serve(reply) as server:
        transport = HTTPTransport()
        got = await transport.send(request(server.port, read_s=0.2), stream=True)
        chunks = []
        with pytest.raises(UpstreamTimeout):
            async for chunk in got.iter_chunks():
                chunks.append(chunk)
        assert chunks == [b"first"]
        await transport.close()


async def test_a_refused_connection_is_unavailable() -> None:
    async with serve(keep_alive()) as server:
        port = server.port
    transport = HTTPTransport()
    with pytest.raises(UpstreamUnavailable, match="cannot connect to fake"):
        await transport.send(request(port), stream=False)
    await transport.close()


async def test_garbage_instead_of_http_is_an_upstream_error() -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with serve(reply) as server:
        transport = HTTPTransport()
        with pytest.raises(UpstreamError, match="malformed HTTP response"):
            await transport.send(request(server.port), stream=False)
        await transport.close()


async def test_an_interim_100_continue_is_skipped() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    async with serve(keep_alive(interim + response(b"final", status="201 Created"))) as server:
        transport = HTTPTransport()
        got = await transport.send(request(server.port), stream=False)
        assert (got.status, await got.read()) == (201, b"final")
        await transport.close()


async def test_headers_are_case_insensitive_and_errors_keep_their_body() -> None:
    body = b'{"error":{"message":"slow down"}}'
    async with serve(keep_alive(response(body, "Retry-After: 7", status="429 Too Many Requests"))) as server:
        transport = HTTPTransport()
        got = await transport.send(request(server.port), stream=False)
        assert got.status == 429 and got.headers["retry-after"] == "7" and got.headers.get("RETRY-AFTER") == "7"
        assert await got.read() == body
        await transport.close()


async def test_a_stream_is_relayed_as_it_arrives_and_a_stream_left_early_is_not_reused() -> None:
    release = asyncio.Event()

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for i in range(3):
            frame = b"data: %d\n\n" % i
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()
            await release.wait()
            release.clear()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with serve(reply) as server:
        transport = HTTPTransport()
        got = await transport.send(request(server.port), stream=True)
        chunks = got.iter_chunks()
        assert await anext(chunks) == b"data: 0\n\n"  # before the server sent the rest
        release.set()
        assert await anext(chunks) == b"data: 1\n\n"
        await chunks.aclose()  # the client left: the connection is dropped, not pooled mid-body
        release.set()
        async with serve(keep_alive(response(b"fresh"))) as other:
            assert await (await transport.send(request(other.port), stream=False)).read() == b"fresh"
        assert server.connections == 1
        await transport.close()


async def test_a_large_body_read_slowly_arrives_whole() -> None:
    big = bytes(range(256)) * 8192  # 2 MiB: more than the client buffers before it pauses the socket
    async with serve(keep_alive(response(big))) as server:
        transport = HTTPTransport()
        got = await transport.send(request(server.port), stream=True)
        received = bytearray()
        async for chunk in got.iter_chunks():
            received += chunk
            await asyncio.sleep(0)  # a slow reader
        assert bytes(received) == big
        await transport.close()


async def test_a_header_with_a_line_break_is_refused_before_sending() -> None:
    async with serve(keep_alive(response(b"{}"))) as server:
        transport = HTTPTransport()
        bad = request(server.port)
        bad = UpstreamRequest(bad.method, bad.url, {"x-evil": "a\r\nhost: elsewhere"}, bad.body, bad.timeouts, "fake")
        with pytest.raises(UpstreamError, match="line break"):
            await transport.send(bad, stream=False)
        assert server.connections == 0
        await transport.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
async def test_https_with_the_servers_certificate_trusted(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    made = await asyncio.create_subprocess_exec(*command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert await made.wait() == 0
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    async with serve(keep_alive(response(b"secure"), response(b"again")), server_tls) as server:
        trusting = HTTPTransport(ssl.create_default_context(cafile=str(cert)))
        assert await (await trusting.send(request(server.port, scheme="https"), stream=False)).read() == b"secure"
        assert await (await trusting.send(request(server.port, scheme="https"), stream=False)).read() == b"again"
        assert server.connections == 1
        await trusting.close()
        default = HTTPTransport()  # the system's trust store does not know this certificate
        with pytest.raises(UpstreamUnavailable, match="cannot connect"):
            await default.send(request(server.port, scheme="https"), stream=False)
        await default.close()
