"""uvicorn's request/response cycle with a cheaper `send` (the protocol in `http_protocol` uses it).

uvicorn writes a response's head (status line and headers) as soon as the ASGI `http.response.start` arrives and
the body when it arrives: two `write` system calls, two TCP segments and, for the client, often two reads, for
every JSON answer. It also checks each header name and each value with a regular expression of its own: two
regex calls per header, ~30 for a gateway answer with rate-limit headers. This cycle

- holds the head of a response that declares its `content-length` and writes it together with the first body
  message: one write. A response without a length (a stream, chunked) gets its head at once, as before, so a
  stream's client sees the headers before the first event;
- checks all names in one regex call and all values in another (a forbidden byte is in the concatenation
  exactly when it is in one of the parts), and refuses the same bytes uvicorn does;
- tells whether its client is gone (`client_gone`), for the streams of the fast lane (found in the scope at `CYCLE`).

Everything else (keep-alive, `connection: close`, HEAD, 204/304, flow control, length checks, the access log) is
uvicorn's behaviour, kept; `tests/api/test_http_cycle.py` holds the cases.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

CRLF = b"\r\n"
NO_BODY = (204, 304)
FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})
CYCLE = "oneflow.cycle"
"""The ASGI scope's key for a weak reference to the request's `Cycle` (set by `http_protocol`; read with `cycle_of`):
the fast lane asks it `client_gone`. Weak, because the cycle holds the scope: a strong one made every request's
cycle, scope and event a reference cycle left to the garbage collector (8 objects a request, 4,464 cycles after a
2-second load), which kept them alive past the request and raised the memory a burst of calls leaves behind."""


def cycle_of(scope: Mapping[str, Any]) -> Cycle | None:
    """The request's cycle, if our protocol serves it (another server, or a test's transport, sets none)."""
    ref = scope.get(CYCLE)
    return ref() if ref is not None else None


def refer(cycle: Cycle) -> weakref.ReferenceType[Cycle]:
    """What `http_protocol` puts in the scope at `CYCLE`."""
    return weakref.ref(cycle)


class Cycle(RequestResponseCycle):
    _head: bytes = b""
    """The response head held until the first body message (empty when none is held)."""

    @property
    def client_gone(self) -> bool:
        """The client disconnected, or a write found its connection broken (the transport is closing; uvicorn
        sets `disconnected` only when the connection's loss reaches the protocol, a turn of the event loop later)."""
        return self.disconnected or self.transport.is_closing()

    async def send(self, message: Any) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self._start(message["status"], self.default_headers + list(message.get("headers", ())))
        elif not self.response_complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after response already completed.")

    def _start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.response_started = True
        self.waiting_for_100_continue = False
        if self.access_log:  # off in `oneflow serve` (the request log has a line per request)
            scope = self.scope
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(scope),
                scope["method"],
                get_path_with_query_string(scope),
                scope["http_version"],
                status,
            )
        content = [STATUS_LINE[status]]
        has_connection_close = False
        for name, value in headers:
            name = name.lower()
            content += (name, b": ", value, CRLF)
            if name not in FRAMING:
                continue
            if name == b"content-length" and self.chunked_encoding is None:
                self.expected_content_length = int(value.decode())
                self.chunked_encoding = False
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
            elif name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
                self.keep_alive = False
                has_connection_close = True
        if HEADER_RE.search(b"".join(content[1::4])):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(b"".join(content[3::4])):
            raise RuntimeError("Invalid HTTP header value.")
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        head_only = self.scope["method"] == "HEAD" or status in NO_BODY
        if self.chunked_encoding is None and not head_only:
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(CRLF)
        head = b"".join(content)
        if self.chunked_encoding is False and self.expected_content_length and not head_only:
            self._head = head  # written with the body
        else:
            self.transport.write(head)

    def _body(self, body: bytes, more_body: bool) -> None:
        head, self._head = self._head, b""
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
            out = b""
        elif self.chunked_encoding:
            out = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more_body:
                out += b"0\r\n\r\n"
        else:
            if len(body) > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= len(body)
            out = body
        if head or out:
            self.transport.write(head + out if head else out)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()
