"""A transport on httpx, for what ours does not do: HTTP/2 (`transport: httpx` on a deployment; the `httpx` extra).

Ours (`upstream/http.py`) stays the default: it is measured about three times faster on the hot path
(bench/probes/RESULTS.md). This one serves a deployment whose upstream wants HTTP/2, or sits behind what only a
full client handles. httpx never sends a request twice by itself (no retries), and takes its proxies from the
environment as ours does. As in `upstream/http.py`, this is the one place where its exceptions become ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import NoReturn

import httpx

from oneflow_ai.errors import UpstreamConnectionLost, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from oneflow_ai.upstream.wire import UpstreamRequest


class HttpxResponse:
    """An httpx response as our `UpstreamResponse`: its body read whole, or streamed chunk by chunk."""

    __slots__ = ("_closing", "_provider", "_response", "headers", "status")

    def __init__(self, response: httpx.Response, provider: str) -> None:
        self._response = response
        self._provider = provider
        self._closing: asyncio.Task[None] | None = None
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.HTTPError as e:
            _raise(e, self._provider, sent=True)
        finally:
            await self._response.aclose()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                if chunk:
                    yield chunk
        except httpx.HTTPError as e:
            _raise(e, self._provider, sent=True)
        finally:
            await self._response.aclose()

    def close(self) -> None:
        if not self._response.is_closed and self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._response.aclose())


class HttpxTransport:
    """One httpx client (HTTP/2 where the upstream offers it, HTTP/1.1 otherwise) shared by its deployments."""

    def __init__(self, *, http2: bool = True) -> None:
        self._client = httpx.AsyncClient(http2=http2, follow_redirects=False, trust_env=True)

    async def send(self, request: UpstreamRequest, *, stream: bool) -> HttpxResponse:
        t = request.timeouts
        read_s = t.stream_idle if stream else t.read
        timeout = httpx.Timeout(connect=t.connect, read=read_s, write=read_s, pool=t.connect)
        built = self._client.build_request(
            request.method, request.url, headers=request.headers, content=request.body, timeout=timeout
        )
        try:
            response = await self._client.send(built, stream=True)
        except httpx.HTTPError as e:
            _raise(e, request.provider, sent=False)
        return HttpxResponse(response, request.provider)

    async def close(self) -> None:
        await self._client.aclose()


def _raise(error: httpx.HTTPError, provider: str, *, sent: bool) -> NoReturn:
    """httpx's exception as ours. `sent`: a response had begun, so a broken one may have been generated."""
    detail = f"{provider}: {type(error).__name__}: {error}".rstrip(": ")
    if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
        raise UpstreamUnavailable(f"{detail} (no connection in time)", provider=provider) from None
    if isinstance(error, httpx.TimeoutException):
        raise UpstreamTimeout(detail, provider=provider) from None
    if isinstance(error, httpx.ConnectError):
        raise UpstreamUnavailable(detail, provider=provider) from None
    if not sent and isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        raise UpstreamConnectionLost(detail, provider=provider) from None
    raise UpstreamError(detail, provider=provider) from None
