"""The real transport: HTTP/1.1 keep-alive connection pools, one per upstream origin, shared by every request.

Measured on the proxy's hot path (bench/probes/RESULTS.md), a relay through aiohttp's client tops out near
6,000 requests/s on one core and this one (asyncio protocols and httptools, the parser uvicorn uses) near 19,000:
the client was most of the gateway's cost per request. It does what an upstream LLM API needs and nothing more:
HTTP/1.1 over TCP or TLS, keep-alive, chunked and gzip/deflate bodies, a connect timeout and a read timeout,
streamed bodies with back-pressure, a connection limit per origin (`pool.py`), HTTP proxies from the environment
and a TLS identity per origin (`origin.py`). No cookies, redirects or HTTP/2 (a deployment that needs HTTP/2 chooses
`transport: httpx`, `upstream/httpx_transport.py`).

A pooled connection is checked before a request is written on it (closed or closing, as when the upstream's FIN
arrived while it was idle, or stray bytes came: a new connection is used instead). A request once written is never
written again: when the connection then breaks before any byte of an answer, the upstream may have read it and
be generating, so the call fails with `UpstreamConnectionLost`, which is never sent to that deployment again (as
httpcore and aiohttp do not resend it; the pipeline may move on to another deployment). This is the single place
where socket and parser failures become the gateway's errors
(`UpstreamUnavailable`, `UpstreamTimeout`, `UpstreamConnectionLost`, `UpstreamError`).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import NoReturn

from oneflow_ai.errors import UpstreamConnectionLost, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from oneflow_ai.upstream.connection import Connection, ConnectionFailed, ReadTimeout
from oneflow_ai.upstream.origin import Origin, OriginSettings, Target, parse_proxy, proxy_for, target_of
from oneflow_ai.upstream.pool import DEFAULT_MAX_CONNECTIONS, Pool, PoolFull
from oneflow_ai.upstream.wire import UpstreamRequest


class Headers(Mapping[str, str]):
    """Response headers: case-insensitive names (the last value wins when one is repeated)."""

    __slots__ = ("_raw", "_table")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._table = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}

    def __getitem__(self, name: str) -> str:
        return self._table[name.lower()]

    def get(self, name: str, default: object = None) -> str | None:  # type: ignore[override]
        return self._table.get(name.lower(), default)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


class HTTPResponse:
    """An upstream's answer: status and headers at once, the body by `read()` or `iter_chunks()`."""

    __slots__ = ("_conn", "_pool", "_provider", "_released", "headers", "status")

    def __init__(self, conn: Connection, pool: Pool, provider: str) -> None:
        self._conn = conn
        self._pool = pool
        self._provider = provider
        self._released = False
        self.status = conn.status
        self.headers: Mapping[str, str] = Headers(conn.headers)

    async def read(self) -> bytes:
        conn = self._conn
        parts: list[bytes] = []
        try:
            while True:
                chunk = conn.next_chunk()
                if chunk is not None:
                    parts.append(chunk)
                elif conn.complete:
                    break
                else:
                    await conn.wait_data()
        except BaseException as e:
            self._release(reuse=False)
            _reraise(e, self._provider)
        self._release(reuse=True)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        reuse = False
        try:
            while True:
                chunk = conn.next_chunk()
                if chunk is not None:
                    yield chunk
                elif conn.complete:
                    reuse = True
                    return
                else:
                    await conn.wait_data()
        except (ConnectionFailed, ReadTimeout) as e:
            _reraise(e, self._provider)
        finally:
            self._release(reuse=reuse)

    def close(self) -> None:
        """Done with the response: the connection goes back to the pool if the body was read to its end."""
        self._release(reuse=self._conn.drained)

    def _release(self, *, reuse: bool) -> None:
        """The connection back to the pool (or closed), then the request's slot (a waiting request takes it,
        and with it that idle connection)."""
        if self._released:
            return
        self._released = True
        if reuse:
            self._pool.give_back(self._conn, time.monotonic())
        else:
            self._conn.abort()
        self._pool.release()

    def __del__(self) -> None:
        if not self._released:  # dropped unread and unclosed: the slot must not be lost with it
            self._released = True
            self._conn.abort()
            self._pool.release()


class HTTPTransport:
    """The gateway's one outbound HTTP client (a `Transport`).

    `max_connections`: per origin, unless `origins` gives that origin its own (with its own TLS context, as a
    deployment's `ca_bundle` and `client_cert` make); `proxies`: as `urllib.request.getproxies()` returns them
    (`origin.proxies_of(environ)`), resolved once per origin.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        origins: Mapping[Origin, OriginSettings] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._origins = dict(origins or {})
        self._proxies = dict(proxies or {})
        for scheme in ("http", "https"):
            if self._proxies.get(scheme):
                parse_proxy(self._proxies[scheme])  # an unusable proxy fails the start, not each call
        self._pools: dict[Origin, Pool] = {}
        self._targets: dict[str, Target] = {}
        self._heads: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}

    async def send(self, request: UpstreamRequest, *, stream: bool) -> HTTPResponse:
        target = self._targets.get(request.url)
        if target is None:
            target = self._target(request)
        pool = self._pools[target.origin]
        data = self._head(request, target) + request.body
        t = request.timeouts
        read_timeout = t.stream_idle if stream else t.read
        if not pool.try_acquire():
            try:
                await pool.acquire(t.connect)
            except BaseException as e:
                _reraise(e, request.provider, connecting=True)
        conn = pool.take(time.monotonic())
        if conn is None:
            try:
                conn = await pool.connect(t.connect)
            except BaseException as e:
                pool.release()
                _reraise(e, request.provider, connecting=True)
        try:
            await conn.request(data, read_timeout)
        except BaseException as e:
            conn.abort()
            pool.release()
            _reraise(e, request.provider)
        return HTTPResponse(conn, pool, request.provider)

    def _target(self, request: UpstreamRequest) -> Target:
        """The URL's target, and its origin's pool: made once per URL (and per origin)."""
        try:
            origin = target_of(request.url).origin
            pool = self._pools.get(origin)
            if pool is None:
                settings = self._origins.get(origin, OriginSettings())
                context = (settings.ssl_context or self._tls()) if origin.tls else None
                limit = settings.max_connections or self._max_connections
                proxy = proxy_for(origin, self._proxies)
                pool = self._pools[origin] = Pool(origin, context, limit=limit, proxy=proxy)
            target = self._targets[request.url] = target_of(request.url, pool.proxy)
        except ValueError as e:
            raise UpstreamError(f"{request.provider}: {e}", provider=request.provider) from None
        return target

    def _head(self, request: UpstreamRequest, target: Target) -> bytes:
        """The request line and headers (cached per method, URL and header set: most requests repeat one)."""
        key = (request.method + request.url, tuple(request.headers.items()))
        fixed = self._heads.get(key)
        if fixed is None:
            lines = [request.method.encode("ascii"), target.request_line_tail]
            for name, value in request.headers.items():
                if name.lower() in ("host", "content-length", "transfer-encoding", "connection"):
                    continue
                if any(c in name or c in value for c in "\r\n\0"):
                    message = f"{request.provider}: header {name!r} has a line break"
                    raise UpstreamError(message, provider=request.provider)
                lines.append(f"{name}: {value}\r\n".encode("latin-1"))
            fixed = b"".join(lines)
            if len(self._heads) > 1024:
                self._heads.clear()
            self._heads[key] = fixed
        return fixed + b"content-length: %d\r\n\r\n" % len(request.body)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._targets.clear()


def _reraise(e: BaseException, provider: str, *, connecting: bool = False) -> NoReturn:
    """Raise what `e` maps to, caused by `e` (or `e` itself when it is ours already, or a cancellation)."""
    error = mapped(e, provider, connecting=connecting)
    if error is e:
        raise e
    raise error from e


def mapped(e: BaseException, provider: str, *, connecting: bool = False) -> BaseException:
    """A socket or parser failure -> the gateway's error. Our own errors (and cancellation) pass unchanged."""
    if isinstance(e, UpstreamError) or not isinstance(e, Exception):
        return e
    if isinstance(e, PoolFull):
        return UpstreamUnavailable(f"no free connection to {provider}: {e}", provider=provider)
    if isinstance(e, (ReadTimeout, TimeoutError)):
        if connecting:
            return UpstreamTimeout(f"{provider} did not accept a connection in time", provider=provider)
        return UpstreamTimeout(f"{provider} did not answer in time", provider=provider)
    if connecting and isinstance(e, OSError):
        return UpstreamUnavailable(f"cannot connect to {provider}: {e.strerror or e}", provider=provider)
    if isinstance(e, ConnectionFailed) and e.refused:
        return UpstreamUnavailable(f"{provider} refused the TLS connection ({e})", provider=provider)
    if isinstance(e, ConnectionFailed) and e.unanswered:
        message = f"{provider} closed the connection before answering a request it may have processed; not resent"
        return UpstreamConnectionLost(message, provider=provider)
    if isinstance(e, (ConnectionFailed, OSError)):
        return UpstreamError(f"{provider} connection failed: {e}", provider=provider)
    return e
