"""Concurrent clients over real HTTP: each call marked by a unique id (sent as the body's `user`, which the fake
upstream counts and the ledger records as `end_user`, and as `x-call-id`, which nginx logs), JSON answers and
streams mixed, each call's outcome kept: its status, whether its whole answer arrived, which replica answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

HI = [{"role": "user", "content": "hi"}]
MAX_TOKENS = 8


@dataclass
class Call:
    marker: str
    model: str
    stream: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    """More body fields (`fake_chunks` for a slow stream)."""
    url: str = ""
    """Where it was sent (the balancer, or one replica)."""
    started: float = 0.0
    """`time.monotonic()` when the request was sent, and when its answer ended."""
    ended: float = 0.0
    status: int = 0
    complete: bool = False
    """The whole answer arrived: a JSON completion, or a stream through `data: [DONE]`."""
    code: str | None = None
    """The OpenAI error code of a refusal."""
    served_by: str = ""
    """nginx's `x-served-by` (the replicas it tried), or the replica's address for a direct call."""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.complete

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": HI,
            "user": self.marker,
            "max_tokens": MAX_TOKENS,
            **self.extra,
        }
        if self.stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return body


async def perform(client: httpx.AsyncClient, call: Call, headers: dict[str, str]) -> Call:
    call.started = time.monotonic()
    sent = {**headers, "x-call-id": call.marker}
    try:
        async with client.stream("POST", call.url + "/v1/chat/completions", json=call.body(), headers=sent) as r:
            call.status = r.status_code
            call.served_by = r.headers.get("x-served-by", call.url.removeprefix("http://"))
            data = b"".join([chunk async for chunk in r.aiter_bytes()])
        if call.status == 200:
            call.complete = data.rstrip().endswith(b"data: [DONE]") if call.stream else b'"choices"' in data
        elif r.headers.get("content-type", "").startswith("application/json"):
            call.code = httpx.Response(call.status, content=data).json()["error"]["code"]
    except httpx.HTTPError as e:
        call.error = f"{type(e).__name__}: {e}"
    call.ended = time.monotonic()
    return call


async def run(
    calls: list[Call], headers: dict[str, str], *, clients: int, on_done: Callable[[Call], None] | None = None
) -> list[Call]:
    """`calls` sent by `clients` concurrent clients, each taking the next call when its last one ended."""
    queue = list(reversed(calls))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, connect=10), limits=limits) as client:

        async def worker() -> None:
            while queue:
                done = await perform(client, queue.pop(), headers)
                if on_done is not None:
                    on_done(done)

        await asyncio.gather(*(worker() for _ in range(clients)))
    return calls


@dataclass
class Loop:
    """`clients` concurrent clients sending calls made by `make(n)` back to back until `stop()`."""

    make: Callable[[int], Call]
    headers: dict[str, str]
    clients: int
    calls: list[Call] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Future[Any] | None = None

    def start(self) -> Loop:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def stop(self) -> list[Call]:
        self._stop.set()
        assert self._task is not None
        await self._task
        return self.calls

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60, connect=10), limits=limits) as client:

            async def worker() -> None:
                while not self._stop.is_set():
                    call = self.make(len(self.calls))
                    self.calls.append(call)
                    await perform(client, call, self.headers)

            await asyncio.gather(*(worker() for _ in range(self.clients)))
