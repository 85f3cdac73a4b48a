"""The connections to one upstream origin: at most `limit` at a time, reused while idle, opened directly, through
a forward proxy (`http://`) or through a proxy's CONNECT tunnel (`https://`).

A request holds one of the `limit` slots from before it takes a connection until its response is done with.
A slot is taken at once while fewer than `limit` are held and nobody waits; otherwise the request waits in
line (first come, first served) for a slot given back, at most the connect timeout. Each new connection is
made only when no idle one is left, so the upstream never sees more than `limit` connections from this pool.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque

from oneflow_ai.upstream.connection import Connection
from oneflow_ai.upstream.origin import Origin, Proxy

IDLE_TIMEOUT_S = 15.0
"""A pooled connection idle this long is closed instead of reused (servers drop idle ones after 5 to 75 s)."""
DEFAULT_MAX_CONNECTIONS = 100


class PoolFull(Exception):
    """Every connection stayed busy for as long as the request could wait for one."""


class ProxyRefused(OSError):
    """The proxy answered CONNECT with something else than 2xx."""


class Pool:
    """Idle keep-alive connections to one origin, most recently used first, and the slots that bound them."""

    def __init__(
        self,
        origin: Origin,
        ssl_context: ssl.SSLContext | None,
        *,
        limit: int = DEFAULT_MAX_CONNECTIONS,
        proxy: Proxy | None = None,
    ) -> None:
        self.origin = origin
        self.limit = limit
        self.proxy = proxy
        self._ssl = ssl_context
        self._idle: list[Connection] = []
        self.held = 0
        """Slots held: requests between `acquire` and `release`."""
        self._waiting: deque[asyncio.Future[None]] = deque()

    # -- slots -----------------------------------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """A slot if one is free and nobody waits for one (no coroutine: the common case stays cheap)."""
        if self.held < self.limit and not self._waiting:
            self.held += 1
            return True
        return False

    async def acquire(self, timeout_s: float) -> None:
        """A slot: at once when one is free, else the first one given back after those waiting before (raises
        `PoolFull` after `timeout_s`)."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except BaseException as e:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as the wait ended: pass it on
            if isinstance(e, TimeoutError):
                raise PoolFull(f"all {self.limit} connections stayed busy for {timeout_s:g}s") from None
            raise

    def release(self) -> None:
        """Give a slot back: to the first request still waiting, or to the free ones."""
        waiting = self._waiting
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: `held` stays
                return
        self.held -= 1

    # -- connections -----------------------------------------------------------------------------------------------

    def take(self, now: float) -> Connection | None:
        """A connection checked before anything is written on it: once a request is written it is never sent
        again (the upstream may have read it), so this check is the only place a stale connection is skipped."""
        while self._idle:
            conn = self._idle.pop()
            if conn.usable and now - conn.idle_since < IDLE_TIMEOUT_S:
                return conn
            conn.abort()
        return None

    def give_back(self, conn: Connection, now: float) -> None:
        if conn.closed or not conn.keep_alive or len(self._idle) >= self.limit:
            conn.abort()
            return
        conn.idle_since = now
        self._idle.append(conn)

    async def connect(self, timeout_s: float) -> Connection:
        return await asyncio.wait_for(self._open(), timeout_s)

    async def _open(self) -> Connection:
        loop = asyncio.get_running_loop()
        o, proxy = self.origin, self.proxy
        if proxy is None:
            hostname = o.host if o.tls else None
            _, conn = await loop.create_connection(
                lambda: Connection(loop), o.host, o.port, ssl=self._ssl, server_hostname=hostname
            )
            return conn
        if not o.tls:  # requests go to the proxy in absolute form (`Target` says so)
            _, conn = await loop.create_connection(lambda: Connection(loop), proxy.host, proxy.port)
            return conn
        return await self._tunnel(loop, proxy)

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, proxy: Proxy) -> Connection:
        """CONNECT through the proxy, then TLS with the upstream inside the tunnel."""
        o = self.origin
        raw, opener = await loop.create_connection(lambda: _TunnelAnswer(loop), proxy.host, proxy.port)
        try:
            authority = f"{o.host if ':' not in o.host else f'[{o.host}]'}:{o.port}".encode("idna")
            raw.write(
                b"CONNECT " + authority + b" HTTP/1.1\r\nhost: " + authority + b"\r\n" + proxy.authorization + b"\r\n"
            )
            status_line = await opener.status_line
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or not parts[1].startswith("2"):
                raise ProxyRefused(f"the proxy {proxy.host}:{proxy.port} refused the tunnel: {status_line!r}")
            conn = Connection(loop)
            context = self._ssl or ssl.create_default_context()
            tls = await loop.start_tls(raw, conn, context, server_hostname=o.host)
        except BaseException:
            raw.abort()
            raise
        assert tls is not None
        conn.connection_made(tls)
        return conn

    def close(self) -> None:
        for conn in self._idle:
            conn.abort()
        self._idle.clear()


class _TunnelAnswer(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT (its head; a 2xx has no body), then hands over to TLS."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.status_line: asyncio.Future[str] = loop.create_future()
        self._head = b""

    def data_received(self, data: bytes) -> None:
        self._head += data
        if b"\r\n\r\n" in self._head and not self.status_line.done():
            self.status_line.set_result(self._head.split(b"\r\n", 1)[0].decode("latin-1"))
        elif len(self._head) > 65536 and not self.status_line.done():
            self.status_line.set_exception(ProxyRefused("the proxy's answer to CONNECT has no end"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.status_line.done():
            self.status_line.set_exception(ProxyRefused("the proxy closed the connection instead of a tunnel"))
