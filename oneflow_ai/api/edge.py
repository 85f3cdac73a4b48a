"""The ASGI edge in front of every route: a request id, the body size limit, security headers.

Pure ASGI (no per-request Request objects); the headers it adds are built once.
"""

from __future__ import annotations

import itertools
import os

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oneflow_ai.errors import PayloadTooLarge

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id")
        if not request_id or len(request_id) > 128:
            request_id = self.new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        rid = request_id.encode()
        security = DOCS_HEADERS if scope["path"].startswith(DOCS_PATHS) else API_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid), *security]
            await send(message)

        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _too_large(send_with_headers, self.max_body_bytes)
            return
        await self.app(scope, _limited(receive, self.max_body_bytes), send_with_headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        return message

    return limited


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps(PayloadTooLarge(f"The request body is larger than {limit} bytes.").body())
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
