"""`ResilientHTTPClient`: one provider's HTTP API called with the gateway's own resilience machinery.

    async with ResilientHTTPClient(provider_name="openai", timeout=30.0, max_retries=3) as client:
        r = await client.post(url, json={...}, headers={...}, idempotency_key="req-unique-id")
        r.json()

Each call is tried up to `1 + max_retries` times within `deadline_s`. Between tries it waits the gateway's
backoff (`next_delay`: exponential with full jitter, or the upstream's `Retry-After`). Whether to try again
is the error's own `retryable` (5xx, 429, 408/409, timeouts and failed connections are; an upstream's
other 4xx is not, and neither is a context-length error or a refused credential (401/403), which no retry of
the same upstream can fix; a refused credential counts as the upstream's failure).
The provider has one circuit breaker (the routing core's): failures open it, and while it is open calls
fail at once with `UpstreamUnavailable` (code `circuit_open`) instead of waiting on a sick upstream.
Every try carries the same `Idempotency-Key` header (one is generated when none is given), so an upstream
that honours it applies a retried POST once. Errors are the gateway's typed errors (`oneflow_ai.errors`),
mapped at the one boundary the gateway uses (`oneflow_ai.upstream.http`).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson

from oneflow_ai.config.schema import Timeouts
from oneflow_ai.errors import ContextWindowExceeded, UpstreamError, UpstreamRejected, UpstreamUnavailable
from oneflow_ai.providers.openai import openai_style_error
from oneflow_ai.routing import Breaker, BreakerBoard, BreakerPolicy, BreakerStore, admit, next_delay, record
from oneflow_ai.upstream.http import HTTPTransport
from oneflow_ai.upstream.wire import Transport, UpstreamRequest

IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class HTTPResult:
    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int

    def json(self) -> Any:
        return orjson.loads(self.body)


class ResilientHTTPClient:
    """Async. `breakers` may be shared by several clients (one breaker per `provider_name` in it)."""

    def __init__(
        self,
        provider_name: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        deadline_s: float = 120.0,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 8.0,
        breaker: BreakerPolicy | None = None,
        breakers: BreakerStore | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.provider_name = provider_name
        self.timeouts = Timeouts(connect=min(connect_timeout, timeout), read=timeout, stream_idle=timeout)
        self.max_retries = max_retries
        self.deadline_s = deadline_s
        self.backoff = (backoff_base_s, backoff_cap_s)
        self.policy = breaker or BreakerPolicy()
        self.breakers = breakers or BreakerBoard()
        self._transport = transport
        self._owned: HTTPTransport | None = None
        self._clock = clock
        self._rng = rng or random.Random()
        self._sleep = sleep

    @property
    def breaker(self) -> Breaker:
        return self.breakers.get(self.provider_name)

    async def post(
        self,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> HTTPResult:
        return await self.request(
            "POST", url, json=json, content=content, headers=headers, idempotency_key=idempotency_key
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> HTTPResult:
        """The upstream's 2xx/3xx answer; otherwise the last try's error, raised."""
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != IDEMPOTENCY_HEADER.lower()}
        given = next((v for k, v in (headers or {}).items() if k.lower() == IDEMPOTENCY_HEADER.lower()), None)
        sent[IDEMPOTENCY_HEADER] = idempotency_key or given or uuid.uuid4().hex
        if json is not None:
            content = orjson.dumps(json)
            if not any(k.lower() == "content-type" for k in sent):
                sent["Content-Type"] = "application/json"
        req = UpstreamRequest(method, url, sent, content or b"", self.timeouts, self.provider_name)
        deadline = self._clock() + self.deadline_s
        last: UpstreamError | None = None
        for attempt in range(1 + self.max_retries):
            if last is not None:
                delay = next_delay(
                    attempt - 1,
                    last.retry_after,
                    deadline - self._clock(),
                    rand=self._rng.random(),
                    base_s=self.backoff[0],
                    cap_s=self.backoff[1],
                )
                if delay is None:
                    break
                await self._sleep(delay)
            if not admit(self.breakers, self.provider_name, self.policy, self._clock()):
                raise self._circuit_open(last)
            try:
                return await self._once(req, attempt + 1)
            except UpstreamError as e:
                last = e
                if not e.retryable or not e.deployment_retryable:
                    raise
        assert last is not None
        raise last

    async def _once(self, req: UpstreamRequest, attempt: int) -> HTTPResult:
        """One try, its outcome recorded on the breaker (an upstream refusing the request is no failure)."""
        try:
            response = await self._client().send(req, stream=False)
            body = await response.read()
        except UpstreamError:
            self._record(ok=False)
            raise
        if response.status >= 400:
            error = openai_style_error(response.status, body, response.headers, self.provider_name)
            self._record(ok=isinstance(error, (UpstreamRejected, ContextWindowExceeded)))
            raise error
        self._record(ok=True)
        return HTTPResult(response.status, response.headers, body, attempt)

    def _record(self, *, ok: bool) -> None:
        record(self.breakers, self.provider_name, ok, self.policy, self._clock())

    def _circuit_open(self, last: UpstreamError | None) -> UpstreamUnavailable:
        b = self.breaker
        wait = None if b.opened_at is None else max(0.0, self.policy.cooldown_s - (self._clock() - b.opened_at))
        cause = f" (last error: {last.message})" if last is not None else ""
        err = UpstreamUnavailable(
            f"The circuit for {self.provider_name} is open{cause}.", provider=self.provider_name, code="circuit_open"
        )
        err.retry_after = wait
        return err

    def _client(self) -> Transport:
        if self._transport is None:  # made on first use
            self._transport = self._owned = HTTPTransport()
        return self._transport

    async def close(self) -> None:
        """Close the connection pool this client made (a transport passed in stays its owner's)."""
        if self._owned is not None:
            await self._owned.close()
            self._transport = self._owned = None

    async def __aenter__(self) -> ResilientHTTPClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
