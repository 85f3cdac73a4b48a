"""The outbound client's per-origin behaviour: the connection limit (requests wait in line for a connection, up
to the connect timeout), HTTP proxies from the environment (absolute-form requests for http://, CONNECT tunnels
for https://, NO_PROXY), and a TLS identity per origin (a CA bundle, a client certificate)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from oneflow_ai.config.schema import Timeouts
from oneflow_ai.errors import UpstreamUnavailable
from oneflow_ai.upstream.http import HTTPTransport
from oneflow_ai.upstream.origin import OriginSettings, proxies_of, target_of, tls_context
from oneflow_ai.upstream.wire import UpstreamRequest
from tests.upstream.test_http_transport import keep_alive, read_request, request, response, serve
from tests.upstream.tls_files import make_tls_files, needs_openssl


async def wait_until(condition: object, what: str) -> None:
    for _ in range(3000):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"waited in vain for {what}")


# -- the connection limit ------------------------------------------------------------------------------------------


@dataclass
class Gated:
    """An upstream that holds every answer until `gate` opens, counting its connections open at once."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    open: int = 0
    most_open: int = 0
    received: int = 0

    async def reply(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                await read_request(reader)
                self.received += 1
                await self.gate.wait()
                writer.write(response(b"done"))
                await writer.drain()
        finally:
            self.open -= 1


async def test_no_more_connections_than_the_limit_and_every_request_is_served() -> None:
    upstream = Gated()
    async with serve(upstream.reply) as server:
        transport = HTTPTransport(max_connections=2)

        async def call() -> bytes:
            return await (await transport.send(request(server.port), stream=False)).read()

        calls = [asyncio.create_task(call()) for _ in range(5)]
        await wait_until(lambda: upstream.received == 2, "two requests in flight")
        await asyncio.sleep(0)  # a third connection would be on its way by now
        upstream.gate.set()
        assert await asyncio.gather(*calls) == [b"done"] * 5
        assert upstream.most_open == 2 and server.connections == 2
        await transport.close()


async def test_a_deployments_own_limit_overrides_the_default() -> None:
    upstream = Gated()
    async with serve(upstream.reply) as server:
        origin = target_of(request(server.port).url).origin
        transport = HTTPTransport(max_connections=100, origins={origin: OriginSettings(max_connections=1)})

        async def call() -> bytes:
            return await (await transport.send(request(server.port), stream=False)).read()

        calls = [asyncio.create_task(call()) for _ in range(3)]
        await wait_until(lambda: upstream.received == 1, "one request in flight")
        upstream.gate.set()
        assert await asyncio.gather(*calls) == [b"done"] * 3
        assert upstream.most_open == 1
        await transport.close()


async def test_waiting_longer_than_the_connect_timeout_for_a_connection_is_unavailable() -> None:
    upstream = Gated()
    async with serve(upstream.reply) as server:
        transport = HTTPTransport(max_connections=1)
        first = asyncio.create_task(transport.send(request(server.port), stream=False))
        await wait_until(lambda: upstream.received == 1, "the first request in flight")
        impatient = request(server.port)
        impatient.timeouts = Timeouts(connect=0.05, read=5, stream_idle=5)
        with pytest.raises(UpstreamUnavailable, match="no free connection to fake") as caught:
            await transport.send(impatient, stream=False)
        assert caught.value.retryable
        upstream.gate.set()
        assert await (await first).read() == b"done"
        # the slot the impatient request gave up on is not lost: the next one gets the connection
        assert await (await transport.send(request(server.port), stream=False)).read() == b"done"
        assert server.connections == 1
        await transport.close()


async def test_a_response_dropped_unread_gives_its_connection_back() -> None:
    async with serve(keep_alive(response(b"one"), response(b"two"))) as server:
        transport = HTTPTransport(max_connections=1)
        await transport.send(request(server.port), stream=True)  # never read, never closed
        got = await asyncio.wait_for(transport.send(request(server.port), stream=False), 30)
        assert got.status == 200
        await transport.close()


# -- proxies -------------------------------------------------------------------------------------------------------


@dataclass
class ProxyLog:
    port: int = 0
    tunnels: list[bytes] = field(default_factory=list)
    forwarded: list[bytes] = field(default_factory=list)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@asynccontextmanager
async def http_proxy() -> AsyncIterator[ProxyLog]:
    """A forward proxy: CONNECT opens a tunnel; an absolute-form request is passed on to the host it names."""
    log = ProxyLog()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
        if method == b"CONNECT":
            log.tunnels.append(target)
            host, port = target.rsplit(b":", 1)
            up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            log.forwarded.append(head.split(b"\r\n", 1)[0])
            authority = target.split(b"/")[2]
            host, port = authority.rsplit(b":", 1)
            up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
            up_writer.write(head)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    log.port = server.sockets[0].getsockname()[1]
    try:
        yield log
    finally:
        server.close()


async def test_an_http_upstream_is_reached_through_the_http_proxy_in_absolute_form() -> None:
    seen: list[bytes] = []

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(response(b"via proxy"))
        await reader.read()

    async with serve(reply) as server, http_proxy() as proxy:
        environ = {"HTTP_PROXY": f"http://user:p%40ss@127.0.0.1:{proxy.port}"}
        transport = HTTPTransport(proxies=proxies_of(environ))
        assert await (await transport.send(request(server.port), stream=False)).read() == b"via proxy"
        url = f"http://127.0.0.1:{server.port}/v1/chat/completions".encode()
        assert proxy.forwarded == [b"POST " + url + b" HTTP/1.1"] and not proxy.tunnels
        assert b"proxy-authorization: Basic dXNlcjpwQHNz\r\n" in seen[0]  # user:p@ss
        await transport.close()


@needs_openssl
async def test_an_https_upstream_is_tunnelled_through_the_proxy_with_connect(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(files.server_cert, files.server_key)
    async with serve(keep_alive(response(b"secret"), response(b"again")), server_tls) as server, http_proxy() as proxy:
        environ = {"https_proxy": f"127.0.0.1:{proxy.port}", "HTTPS_PROXY": "http://ignored.invalid:1"}
        transport = HTTPTransport(tls_context(str(files.ca), None, None), proxies=proxies_of(environ))
        for expected in (b"secret", b"again"):
            got = await transport.send(request(server.port, scheme="https"), stream=False)
            assert await got.read() == expected
        assert proxy.tunnels == [f"127.0.0.1:{server.port}".encode()] and not proxy.forwarded
        await transport.close()


async def test_no_proxy_names_the_hosts_reached_directly() -> None:
    async with serve(keep_alive(response(b"direct"))) as server, http_proxy() as proxy:
        environ = {"http_proxy": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "example.com,127.0.0.1"}
        transport = HTTPTransport(proxies=proxies_of(environ))
        assert await (await transport.send(request(server.port), stream=False)).read() == b"direct"
        assert not proxy.forwarded and not proxy.tunnels and server.connections == 1
        await transport.close()


async def test_a_proxy_that_refuses_the_tunnel_is_unavailable() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with serve(refuse) as proxy:
        transport = HTTPTransport(proxies={"https": f"http://127.0.0.1:{proxy.port}"})
        with pytest.raises(UpstreamUnavailable, match=r"refused the tunnel.*407"):
            await transport.send(request(443, scheme="https"), stream=False)
        await transport.close()


def test_proxy_variables_are_read_as_urllib_reads_them() -> None:
    environ = {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:2", "NO_PROXY": "a,b", "https_proxy": ""}
    assert proxies_of(environ) == {"http": "http://lower:2", "no": "a,b"}
    with pytest.raises(ValueError, match="only http:// proxies"):
        HTTPTransport(proxies={"https": "https://proxy:443"})


# -- a TLS identity per origin ---------------------------------------------------------------------------------------


@contextmanager
def blocking_tls_server(context: ssl.SSLContext) -> Iterator[int]:
    """A TLS server on a thread with blocking sockets, as OpenSSL-based servers behave: a refused client gets
    the TLS alert (asyncio's server drops the connection without sending it)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(65536)
                    tls.sendall(response(b"mutual"))
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@needs_openssl
async def test_an_upstream_that_requires_a_client_certificate(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(files.server_cert, files.server_key)
    server_tls.verify_mode = ssl.CERT_REQUIRED
    server_tls.load_verify_locations(files.ca)
    with blocking_tls_server(server_tls) as port:
        call: UpstreamRequest = request(port, scheme="https")
        origin = target_of(call.url).origin
        identified = tls_context(str(files.ca), str(files.client_cert), str(files.client_key))
        transport = HTTPTransport(origins={origin: OriginSettings(ssl_context=identified)})
        assert await (await transport.send(call, stream=False)).read() == b"mutual"
        await transport.close()

        anonymous = HTTPTransport(origins={origin: OriginSettings(ssl_context=tls_context(str(files.ca), None, None))})
        with pytest.raises(UpstreamUnavailable, match=r"fake refused the TLS connection.*CERTIFICATE_REQUIRED") as e:
            await anonymous.send(call, stream=False)
        assert e.value.retryable
        await anonymous.close()

        untrusting = HTTPTransport()  # the system's store does not know the test CA
        with pytest.raises(UpstreamUnavailable, match=r"cannot connect to fake.*CERTIFICATE_VERIFY_FAILED"):
            await untrusting.send(call, stream=False)
        await untrusting.close()
