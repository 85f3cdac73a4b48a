"""The HTTP/1.1 server protocol `oneflow serve` runs: uvicorn's httptools protocol, plus what uvicorn lacks.

- **Slow clients.** uvicorn has `timeout_keep_alive` (an idle connection between two requests is closed after
  it) but no timeout for reading a request: a client may send its headers, or its body, a byte a minute
  (slowloris) and hold a connection and a task forever. Here the headers must arrive within `header_timeout_s`
  of the connection (or of the next request's first byte), the body within `body_timeout_s` of the headers;
  otherwise the client gets a 408 (unless a response already started) and the connection is closed.
- **Header limits.** uvicorn (and httptools) take headers of any size and number. Here the request line and
  headers may hold `max_header_bytes` in at most `max_headers` headers; more is a 431. The size is counted in the
  parser's callbacks (a length added per header), the headers once they are complete; a single header too large
  to complete is caught by the bytes received while the head is still open.
- **Its own answers are the gateway's.** The 400 (not HTTP), 408 and 431 that the protocol writes itself, with no
  application involved, are OpenAI error JSON with the security headers `api.edge` adds to every answer.
- **Shutdown.** When the server begins a graceful shutdown on a connection with a request in flight, the
  gateway's `Drain` is told, so that calls still running near the end of the grace are cut by the gateway
  (answered 503 and recorded) rather than by uvicorn (plain-text 500, unrecorded); see `gateway.drain`.

Each request's cycle is `http_cycle.Cycle`, uvicorn's with a cheaper `send`.

The hot path pays a few attribute writes per request: one timer per connection checks the deadline and
reschedules itself when the deadline moved, instead of one timer per request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from oneflow_ai.api.edge import API_HEADERS
from oneflow_ai.api.http_cycle import CYCLE, Cycle, refer
from oneflow_ai.api.wire import render_error
from oneflow_ai.errors import GatewayError, HeadersTooLarge, InvalidRequest, RequestTimeout

NOT_HTTP = InvalidRequest("The request is not valid HTTP/1.1.", code="invalid_http")
TIMED_OUT = RequestTimeout("The request's headers or body did not arrive in time.")


class HeadTooLarge(Exception):
    """Raised in a parser callback: httptools stops and raises `HttpParserCallbackError` with this as context."""


class GatewayProtocol(HttpToolsProtocol):
    def __init__(
        self,
        *args: Any,
        header_timeout_s: float = 10.0,
        body_timeout_s: float = 30.0,
        max_header_bytes: int = 64 * 1024,
        max_headers: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self._deadline: float | None = None
        """While a request is being read: when it must have arrived (loop time)."""
        self._timer: asyncio.TimerHandle | None = None
        self._head_open = False
        """Between a request's first byte and the end of its headers."""
        self._head_bytes = 0
        """The request line's and the completed headers' bytes."""
        self._head_received = 0
        """The bytes received while the head stayed open, after the read it began in (a lower bound of its size,
        which also counts a header that has not ended yet)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._reading(self.header_timeout_s)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        head = self.headers if self._head_open else None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as e:
            self._refuse(self._too_large() if isinstance(e.__context__, HeadTooLarge) else NOT_HTTP)
            return
        if head is not None and self._head_open and self.headers is head:  # the same head, still open
            self._head_received += len(data)
            if self._head_received > self.max_header_bytes:
                self._refuse(self._too_large())

    # -- parser callbacks ------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading(self.header_timeout_s)
        self._head_open = True
        self._head_bytes = self._head_received = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._head_bytes += len(url)
        if self._head_bytes > self.max_header_bytes:
            raise HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        size = self._head_bytes + len(name) + len(value)
        if size > self.max_header_bytes:
            raise HeadTooLarge
        self._head_bytes = size
        # uvicorn's own, inlined (a `super()` call per header costs more than the check above)
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if len(self.headers) > self.max_headers:  # counted once: so many within the size limit cost little
            raise HeadTooLarge
        self._head_open = False
        self._reading(self.body_timeout_s)
        super().on_headers_complete()
        # uvicorn builds its own cycle here and schedules its task, which has not run yet: the cycle becomes ours
        # (`http_cycle.Cycle`: same state, a cheaper `send`) before the application can send anything.
        if type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = Cycle
            self.scope[CYCLE] = refer(self.cycle)  # type: ignore[literal-required,arg-type]

    def on_message_complete(self) -> None:
        self._deadline = None
        super().on_message_complete()

    # -- the server's calls ----------------------------------------------------------------------------------

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        super().shutdown()
        grace = self.config.timeout_graceful_shutdown
        cycle = self.cycle
        if grace is None or cycle is None or cycle.response_complete:
            return
        drain = getattr(self.app_state.get("gateway"), "drain", None)
        if drain is not None:
            drain.cut_after(self.loop, grace, self.tasks)

    # -- refusals ----------------------------------------------------------------------------------------------

    def _too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(
            f"The request's headers are too large: at most {self.max_header_bytes} bytes "
            f"(with the request line) in at most {self.max_headers} headers."
        )

    def _refuse(self, error: GatewayError) -> None:
        """Answer `error` (unless a response is being written: a client gets no error in the middle of an
        answer) and close the connection."""
        self._head_open = False
        self._deadline = None
        cycle = self.cycle
        if cycle is None or not cycle.response_started or cycle.response_complete:
            self.transport.write(answer(error, self.server_state.default_headers))
        self.transport.close()

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
        self._refuse(TIMED_OUT)


def answer(error: GatewayError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP response written by the protocol itself: the OpenAI error JSON, the security headers of
    `api.edge`, and `connection: close`."""
    status, headers, body = render_error(error)
    lines = [STATUS_LINE[status]]
    for name, value in (*default_headers, *headers, (b"connection", b"close"), *API_HEADERS):
        lines += (name, b": ", value, b"\r\n")
    lines += (b"\r\n", body)
    return b"".join(lines)
