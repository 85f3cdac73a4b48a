"""Values that cross the outbound seam. Providers build `UpstreamRequest`s; a `Transport` sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from oneflow_ai.config.schema import Timeouts


@dataclass(slots=True)  # not frozen: built per upstream call, and a frozen one costs a microsecond more to make
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    """The request's own (the deployment's `Auth` adds to them in place)."""
    body: bytes
    timeouts: Timeouts
    provider: str


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes: ...

    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    async def send(self, request: UpstreamRequest, *, stream: bool) -> UpstreamResponse:
        """Send the request and return once the status and headers arrived.

        Raises `UpstreamUnavailable` when no connection could be made and `UpstreamTimeout` on a timeout;
        no other exception type escapes.
        """
        ...
