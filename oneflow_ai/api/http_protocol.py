"""Slow clients, at the HTTP protocol level (`oneflow serve` runs uvicorn with this protocol).

What uvicorn offers: `timeout_keep_alive` (an idle connection between two requests is closed after it),
`limit_concurrency` (503 above it) and `h11_max_incomplete_event_size` (h11 only). It has no timeout for
reading a request: a client may send its headers, or its body, a byte a minute (slowloris) and hold a
connection and a task forever. `SlowClientProtocol` is uvicorn's httptools protocol plus those two
timeouts: the headers must arrive within `header_timeout_s` of the connection (or of the next request's
first byte), the body within `body_timeout_s` of the headers; otherwise the client gets a 408 (unless a
response already started) and the connection is closed.

Each request's cycle is `http_cycle.Cycle`, uvicorn's with a cheaper `send`.

The hot path pays two attribute writes per request: one timer per connection checks the deadline and
reschedules itself when the deadline moved, instead of one timer per request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from oneflow_ai.api.http_cycle import Cycle

TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class SlowClientProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, header_timeout_s: float = 10.0, body_timeout_s: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self._deadline: float | None = None
        """While a request is being read: when it must have arrived (loop time)."""
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._reading(self.header_timeout_s)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._reading(self.body_timeout_s)
        super().on_headers_complete()
        # uvicorn builds its own cycle here and schedules its task, which has not run yet: the cycle becomes ours
        # (`http_cycle.Cycle`: same state, a cheaper `send`) before the application can send anything.
        if type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = Cycle

    def on_message_complete(self) -> None:
        self._deadline = None
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _reading(self, seconds: float) -> None:
        self._deadline = self.loop.time() + seconds
        if self._timer is None:
            self._timer = self.loop.call_at(self._deadline, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._deadline is None or self.transport.is_closing():
            return
        if self.loop.time() < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._check)
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(TIMED_OUT)
        self.transport.close()
