"""A minimal Redis client for the hot path's batch scripts: one connection, pipelined commands, replies parsed
by hiredis (the C parser redis-py itself uses when installed).

redis-py's asyncio client spends ~200 us of CPU on a pipeline round trip at one request at a time (connection
pool, retries, events, timeouts, per-argument encoding); this client ~50 us for the same bytes on the wire
(`bench/probes/RESULTS.md`). It does only what `RedisBatches` needs: send a few commands in one write and
return their replies in order. Everything else (pub/sub, seeding, reads, the admin paths) uses redis-py.

The connection is made on first use (AUTH and SELECT from the URL) and made again after a failure. Error
replies come back as `ResponseError` values, not raised; a broken or silent connection raises redis-py's
`ConnectionError` or `TimeoutError` (both `RedisError`s) for every command in flight.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = bytes | str | int | float


def encode(command: Sequence[Arg]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as e:
                self.fail(RedisConnectionError(f"Redis sent something that is not RESP: {e}"))
                return
            if reply is False:
                return
            if self.waiters:
                waiter = self.waiters.popleft()
                if not waiter.done():
                    waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.fail(RedisConnectionError(f"lost the connection to Redis: {exc or 'closed by the server'}"))

    def fail(self, error: Exception) -> None:
        self.closed = True
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class RespClient:
    def __init__(self, url: str, *, connect_timeout_s: float = 0.5, reply_timeout_s: float = 3.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"not a Redis URL: {url!r}")
        self._tls = parts.scheme == "rediss"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 6379
        self._path = parts.path if parts.scheme == "unix" else None
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        db = parts.path.strip("/") if parts.scheme != "unix" else ""
        for pair in parts.query.split("&"):
            if pair.startswith("db="):
                db = pair[3:]
        self._db = int(db) if db else 0
        self._connect_timeout_s = connect_timeout_s
        self._reply_timeout_s = reply_timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def execute(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Send the commands in one write; their replies in order (an error reply is a `ResponseError` value)."""
        protocol = await self._connected()
        return await self._send(protocol, commands)

    async def _send(self, protocol: _Protocol, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        waiters = [loop.create_future() for _ in commands]
        protocol.waiters.extend(waiters)
        assert protocol.transport is not None
        protocol.transport.write(b"".join(encode(c) for c in commands))
        timer = loop.call_later(self._reply_timeout_s, self._timed_out, protocol)
        try:
            return [await w for w in waiters]
        finally:
            timer.cancel()

    def _timed_out(self, protocol: _Protocol) -> None:
        protocol.fail(RedisTimeoutError(f"Redis did not answer within {self._reply_timeout_s:g}s"))

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and not self._protocol.closed:
                return self._protocol
            self._protocol = await self._connect()
            return self._protocol

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            if self._path is not None:
                connecting = loop.create_unix_connection(_Protocol, self._path)
            else:
                tls = ssl.create_default_context() if self._tls else None
                connecting = loop.create_connection(_Protocol, self._host, self._port, ssl=tls)
            _, protocol = await asyncio.wait_for(connecting, self._connect_timeout_s)
        except (OSError, TimeoutError) as e:
            raise RedisConnectionError(f"cannot connect to Redis: {e or type(e).__name__}") from e
        setup: list[list[Arg]] = []
        if self._password is not None:
            setup.append(["AUTH", self._username, self._password] if self._username else ["AUTH", self._password])
        if self._db:
            setup.append(["SELECT", self._db])
        if setup:
            for reply in await self._send(protocol, setup):
                if isinstance(reply, ResponseError):
                    protocol.fail(RedisConnectionError(f"Redis refused the connection's setup: {reply}"))
                    raise RedisConnectionError(f"Redis refused the connection's setup: {reply}")
        return protocol

    async def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
