"""The ASGI edge in front of every route: a request id, the body size limit, security headers, and the HTTP
metrics (`http_requests_total`, `http_request_duration_seconds`).

Every request gets an id of the gateway's own, unique (the ledger's key, the budget holds', the logs'). A
client's (or an ingress's) `x-request-id` is kept as the client's id: answered back in `x-request-id`, with the
gateway's own in `x-oneflow-request-id`, and written in the request's log line. It is never the key of
anything: a client that sent the same id twice would otherwise have its second call go unrecorded.

It also counts the calls it has started and those in flight, which tell when the worker has gone quiet
(`ops.idle_trim`).

Pure ASGI, one layer (each wrapper around `send` costs every response, so the edge does all of this in one).
The headers it adds are built once. Being outermost, it also counts what it refuses itself (413).
"""

from __future__ import annotations

import itertools
import logging
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oneflow_ai.api.wire import limited, send_error, too_large
from oneflow_ai.observability.http_metrics import children
from oneflow_ai.observability.metrics import Metrics

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
]
API_HEADERS = [*SECURITY_HEADERS, (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)
DOCS_HEADERS = [*SECURITY_HEADERS, (b"content-security-policy", DOCS_CSP)]
"""Swagger UI and ReDoc (served from packaged assets) need their inline bootstrap script and styles."""
DOCS_PATHS = ("/docs", "/redoc", "/_docs/")
UI_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
UI_HEADERS = [*SECURITY_HEADERS, (b"content-security-policy", UI_CSP)]
"""The console (`/ui`): its own scripts and styles only, never inline ones; forms post only to itself."""
MAX_REQUEST_ID = 128

log = logging.getLogger("oneflow")


class RequestIds:
    """Unique request ids without a syscall per request: a random per-process prefix and a counter."""

    __slots__ = ("_next", "_prefix")

    def __init__(self) -> None:
        self._prefix = "req_" + os.urandom(8).hex()
        self._next = itertools.count(1).__next__

    def __call__(self) -> str:
        return f"{self._prefix}{self._next():08x}"


class Edge:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.new_request_id = RequestIds()
        self.calls = 0
        """HTTP requests started."""
        self.in_flight = 0
        """HTTP requests not finished (streams until their last byte)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        client_id = declared = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                client_id = value
            elif key == b"content-length":
                declared = value
        request_id = self.new_request_id()
        state["request_id"] = request_id
        path = scope["path"]
        security = (
            UI_HEADERS if path.startswith("/ui") else DOCS_HEADERS if path.startswith(DOCS_PATHS) else API_HEADERS
        )
        if client_id and len(client_id) <= MAX_REQUEST_ID:
            state["client_request_id"] = client_id.decode("latin-1")
            added = [(b"x-request-id", client_id), (b"x-oneflow-request-id", request_id.encode()), *security]
        else:
            added = [(b"x-request-id", request_id.encode()), *security]
        metrics: Metrics | None = state.get("metrics")
        status = 0

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                headers = message.get("headers")
                message["headers"] = [*headers, *added] if headers else added
                status = message["status"]
                if metrics is not None:  # the route is known by now (the router set it, or the fast lane did)
                    children(metrics, scope).duration.observe(time.perf_counter() - started)
            await send(message)

        self.calls += 1
        self.in_flight += 1
        try:
            if declared is not None:
                if declared.isdigit() and int(declared) > self.max_body_bytes:
                    await send_error(edge_send, too_large(self.max_body_bytes))
                    return
                await self.app(scope, receive, edge_send)  # the server enforces the declared length
            else:
                await self.app(scope, limited(receive, self.max_body_bytes), edge_send)
        finally:
            self.in_flight -= 1
            if metrics is not None:
                bound = children(metrics, scope)
                if status == 0:  # no response started: the app failed, the server answers 500
                    bound.duration.observe(time.perf_counter() - started)
                bound.counter(status or 500).inc()
