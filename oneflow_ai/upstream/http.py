"""The real transport: one shared aiohttp session (one connection pool) for every upstream.

This is the single place where aiohttp's exceptions become ours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp

from oneflow_ai.config.schema import Timeouts
from oneflow_ai.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from oneflow_ai.upstream.wire import UpstreamRequest, UpstreamResponse


class AiohttpResponse:
    __slots__ = ("_provider", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, provider: str) -> None:
        self._response = response
        self._provider = provider
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except Exception as e:
            self._response.close()
            raise _mapped(e, self._provider) from e
        finally:
            self._response.release()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as e:
            raise _mapped(e, self._provider) from e
        finally:
            self._response.close()

    def close(self) -> None:
        self._response.close()


class AiohttpTransport:
    def __init__(self, *, limit: int = 0, limit_per_host: int = 0) -> None:
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit_per_host, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
        )
        self._timeouts: dict[tuple[Timeouts, bool], aiohttp.ClientTimeout] = {}

    async def send(self, request: UpstreamRequest, *, stream: bool) -> UpstreamResponse:
        try:
            response = await self._session.request(
                request.method,
                request.url,
                data=request.body or None,
                headers=request.headers,
                timeout=self._timeout(request.timeouts, stream),
            )
        except Exception as e:
            raise _mapped(e, request.provider) from e
        return AiohttpResponse(response, request.provider)

    def _timeout(self, t: Timeouts, stream: bool) -> aiohttp.ClientTimeout:
        key = (t, stream)
        found = self._timeouts.get(key)
        if found is None:
            read = t.stream_idle if stream else t.read
            found = self._timeouts[key] = aiohttp.ClientTimeout(connect=t.connect, sock_read=read)
        return found

    async def close(self) -> None:
        await self._session.close()


def _mapped(e: Exception, provider: str) -> Exception:
    """aiohttp's failure -> our error. Our own errors pass through unchanged."""
    if isinstance(e, UpstreamError):
        return e
    if isinstance(e, (aiohttp.ServerTimeoutError, TimeoutError, aiohttp.ConnectionTimeoutError)):
        return UpstreamTimeout(f"{provider} did not answer in time", provider=provider)
    if isinstance(e, aiohttp.ClientConnectorError):
        return UpstreamUnavailable(f"cannot connect to {provider}: {e.os_error.strerror or e}", provider=provider)
    if isinstance(e, (aiohttp.ClientError, OSError)):
        return UpstreamError(f"{provider} connection failed: {type(e).__name__}", provider=provider)
    return e
