"""One keep-alive HTTP/1.1 connection to an upstream: an asyncio protocol that writes a request and parses its
response with httptools (the parser uvicorn uses), delivering the status and headers, then the body as it comes.

A connection serves one request at a time. Reading has one timeout, `read_timeout_s`: the longest wait for the
next byte of the response (aiohttp's `sock_read`), kept by one timer per connection that reschedules itself
instead of one timer per byte. A body larger than `HIGH_WATER` waiting for its reader pauses the socket until
the reader catches up. Whatever goes wrong (the peer closes, a malformed response, a timeout) fails the waiting
reader with `ConnectionFailed` or `ReadTimeout` and leaves the connection closed; the transport maps those to
the gateway's errors.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from typing import Any

import httptools

HIGH_WATER = 256 * 1024
"""Buffered body bytes above which the socket is paused until the reader drains them."""


class ConnectionFailed(Exception):
    """The connection broke, or the peer sent something that is not HTTP/1.1. `unanswered`: the request was
    written and the connection closed before any byte of a response (the upstream may have read it)."""

    def __init__(self, message: str, *, unanswered: bool = False, refused: bool = False) -> None:
        super().__init__(message)
        self.unanswered = unanswered
        self.refused = refused
        """The upstream refused the TLS session (as TLS 1.3 servers do after the handshake when they want a client
        certificate or do not accept ours): it never read the request."""


class ReadTimeout(Exception):
    """No byte of the response arrived within the read timeout."""


class Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.requests = 0
        # the response in progress
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self._head: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._data: asyncio.Future[None] | None = None
        self.complete = False
        self.keep_alive = False
        self._error: BaseException | None = None
        self._decoder: Any = None
        self._paused = False
        self._header_name = b""
        # the read timeout
        self._read_timeout_s = 0.0
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._can_write: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        if self.complete and self._head is None:
            self.abort()  # bytes nobody asked for: the next response could not be told from them
            return
        if self._deadline is not None:
            self._deadline = self._loop.time() + self._read_timeout_s
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(ConnectionFailed(f"malformed HTTP response ({e})"))
        except httptools.HttpParserUpgrade:
            self._fail(ConnectionFailed("the upstream switched protocols"))

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost decides what the end means

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_timer()
        if self._error is not None or (self._head is None and self._data is None and self.complete):
            return
        if isinstance(exc, ssl.SSLError) and self.status == 0:
            self._fail(ConnectionFailed(f"TLS alert from the upstream: {exc.reason or exc}", refused=True))
        elif self._head is not None and not self._head.done():
            self._fail(ConnectionFailed("the upstream closed the connection before answering", unanswered=True))
        elif not self.complete and self._delimited_by_close():
            self._finish()  # HTTP/1.0 style: no length, no chunks; the body ended with the connection
        elif not self.complete:
            self._fail(ConnectionFailed("the upstream closed the connection mid-response"))

    def pause_writing(self) -> None:
        if self._can_write is None:
            self._can_write = self._loop.create_future()

    def resume_writing(self) -> None:
        waiter, self._can_write = self._can_write, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httptools callbacks ---------------------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self.complete:
            raise ConnectionFailed("a response nobody asked for")  # the parser fails: the connection is dropped
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim response (100 Continue): the real one follows
            self.headers = []
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        for name, value in self.headers:
            if name == b"content-encoding":
                coding = value.strip().lower()
                if coding in (b"gzip", b"x-gzip"):
                    self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
                elif coding == b"deflate":
                    self._decoder = zlib.decompressobj()
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except zlib.error as e:
                self._fail(ConnectionFailed(f"undecodable response body ({e})"))
                return
            if not body:
                return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0:
            return  # the end of an interim response
        if self._decoder is not None:
            rest = self._decoder.flush()
            if rest:
                self._chunks.append(rest)
        self._finish()

    # -- the request ---------------------------------------------------------------------------------------------

    async def request(self, data: bytes, read_timeout_s: float) -> None:
        """Write a whole request; return once the response's status and headers arrived."""
        assert self.transport is not None
        self.requests += 1
        self.status = 0
        self.headers = []
        self._chunks.clear()
        self._buffered = 0
        self.complete = False
        self.keep_alive = False
        self._error = None
        self._decoder = None
        self._head = self._loop.create_future()
        self._read_timeout_s = read_timeout_s
        self._deadline = self._loop.time() + read_timeout_s
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadline, self._check_deadline)
        self.transport.write(data)
        if self._can_write is not None:
            await self._can_write
        await self._head
        self._head = None

    @property
    def usable(self) -> bool:
        """Fit to carry another request: not closed or closing (the upstream's FIN seen), no stray bytes came."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    @property
    def drained(self) -> bool:
        """The whole response arrived and the reader took all of it."""
        return self.complete and not self._chunks

    def next_chunk(self) -> bytes | None:
        """A body chunk already received, or None (then `complete` says whether more will come)."""
        if not self._chunks:
            return None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < HIGH_WATER // 4 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    async def wait_data(self) -> None:
        """Until a chunk or the end of the body arrives (raises what broke the connection)."""
        if self._error is not None:
            raise self._error
        if self._chunks or self.complete:
            return
        self._data = self._loop.create_future()
        try:
            await self._data
        finally:
            self._data = None

    def abort(self) -> None:
        """Close now, whatever state the response is in (the connection is not reused)."""
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()

    # -- internals -------------------------------------------------------------------------------------------------

    def _delimited_by_close(self) -> bool:
        if self.status == 0:
            return False
        return not any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers)

    def _finish(self) -> None:
        self.complete = True
        self._deadline = None
        self._wake()

    def _wake(self) -> None:
        waiter = self._data
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._deadline = None
        for waiter in (self._head, self._data):
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)
        if not self.closed:
            self.abort()

    def _check_deadline(self) -> None:
        self._timer = None
        if self._deadline is None or self.closed:
            return
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._check_deadline)
            return
        self._fail(ReadTimeout(f"no response byte within {self._read_timeout_s:g}s"))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
