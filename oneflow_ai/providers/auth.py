"""Authorising an upstream request: the provider's own step, separate from translation.

A provider builds a request (`chat_request`, `embeddings_request`, ...) with no credential in it; the deployment's
`Auth`, built once at start-up by its provider (`Provider.auth`) with the secret already resolved, then authorises
it just before it is sent. Like httpx's `Auth.auth_flow`, an `Auth` sees the finished request (method, URL,
headers, body), so besides a header or a query parameter it can sign it: a request signer such as AWS SigV4 is
one more `Auth`, applied last for the same reason. An `Auth` does no I/O per request: a credential that expires
(OAuth, STS) is an `ExpiringAuth`, refreshed beside the calls, and the current one applied (`authorise`).

The secrets an `Auth` holds are left out of its `repr`, so a log of one shows no key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlencode

from oneflow_ai.upstream.wire import UpstreamRequest


class Auth(Protocol):
    def apply(self, request: UpstreamRequest) -> None:
        """Authorise `request` in place (its `headers` and `url` are the request's own, built for this call)."""
        ...


class ExpiringAuth:
    """An `Auth` whose credential expires (an OAuth access token): `ready()` is awaited before `apply`, and makes
    sure a valid credential is there, fetching one only when there is none (or it expired); a credential close to
    its end is refreshed beside the calls, which go on with the current one meanwhile."""

    __slots__ = ()

    async def ready(self) -> None:
        raise NotImplementedError

    def apply(self, request: UpstreamRequest) -> None:
        raise NotImplementedError


async def authorise(auth: Auth, request: UpstreamRequest) -> None:
    """Authorise `request` with `auth`, waiting first for a credential that expires to be valid."""
    if isinstance(auth, ExpiringAuth):
        await auth.ready()
    auth.apply(request)


class NoAuth:
    """No credential (a local server, the demo, or a deployment whose own `headers` carry it)."""

    __slots__ = ()

    def apply(self, request: UpstreamRequest) -> None:
        return None

    def __repr__(self) -> str:
        return "NoAuth()"


class HeaderKeyAuth:
    """The key as the value of one header: `x-api-key` (Anthropic), `api-key` (Azure), `x-goog-api-key` (Google),
    `xi-api-key` (ElevenLabs)."""

    __slots__ = ("_value", "header")

    def __init__(self, header: str, key: str) -> None:
        self.header = header.lower()
        self._value = key

    def apply(self, request: UpstreamRequest) -> None:
        request.headers[self.header] = self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.header!r}, <secret>)"


class BearerAuth(HeaderKeyAuth):
    """`authorization: Bearer <key>` (OpenAI and the servers compatible with it)."""

    __slots__ = ()

    def __init__(self, key: str) -> None:
        super().__init__("authorization", f"Bearer {key}")


class QueryKeyAuth:
    """The key as a query parameter of the URL (Google's `?key=`)."""

    __slots__ = ("_query", "param")

    def __init__(self, param: str, key: str) -> None:
        self.param = param
        self._query = urlencode({param: key})

    def apply(self, request: UpstreamRequest) -> None:
        request.url = f"{request.url}{'&' if '?' in request.url else '?'}{self._query}"

    def __repr__(self) -> str:
        return f"QueryKeyAuth({self.param!r}, <secret>)"


def header_key(header: str, key: str | None, configured: Mapping[str, str]) -> Auth:
    """`HeaderKeyAuth`, or `NoAuth` without a key or when the deployment's own `headers` (`configured`) already set
    that header: the configured value is sent, as written."""
    if not key or _names(configured, header):
        return NoAuth()
    return HeaderKeyAuth(header, key)


def bearer(key: str | None, configured: Mapping[str, str]) -> Auth:
    """`BearerAuth`, or `NoAuth` as `header_key` says."""
    if not key or _names(configured, "authorization"):
        return NoAuth()
    return BearerAuth(key)


def _names(headers: Mapping[str, str], header: str) -> bool:
    return any(name.lower() == header for name in headers)
