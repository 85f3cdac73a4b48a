"""The HTTP edge's two conversions, each written once: a `GatewayError` to the bytes of an answer, and an ASGI
request's messages to its body.

`render_error` is the only place the OpenAI error JSON becomes a status, headers and a body. The fast lane,
idempotency and the edge send it as ASGI messages (`send_error`), FastAPI's exception handlers as a Starlette
response (`ErrorResponse`), and the server protocol writes it itself for the 400, 408 and 431 it refuses before
any application runs (`http_protocol.answer`). The edge adds `x-request-id` and the security headers to every
answer that goes through it.

`read_body` is the only ASGI body reader. The body limit is the edge's: a declared `content-length` above it is
refused before the application runs (`too_large`), and a body without one is counted as it arrives
(`limited`), which raises `PayloadTooLarge` inside whichever reader reads it (this one, or Starlette's for the
FastAPI routes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import orjson
from starlette.responses import Response
from starlette.types import Message, Receive, Send

from oneflow_ai.errors import GatewayError, InvalidRequest, PayloadTooLarge

JSON_TYPE = (b"content-type", b"application/json")


class Rendered(NamedTuple):
    status: int
    headers: list[tuple[bytes, bytes]]
    """`content-type`, `content-length`, then the error's own (e.g. `retry-after`), lowercase."""
    body: bytes


def render_error(error: GatewayError) -> Rendered:
    """The OpenAI error JSON (`{"error": {"message", "type", "param", "code"}}`) with the error's status."""
    body = orjson.dumps(error.body())
    headers = [JSON_TYPE, (b"content-length", b"%d" % len(body))]
    if error.headers:
        headers += raw_headers(error.headers)
    return Rendered(error.status, headers, body)


def raw_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def send_error(send: Send, error: GatewayError) -> None:
    status, headers, body = render_error(error)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ErrorResponse(Response):
    """`render_error` as a Starlette response, for FastAPI's exception handlers and routes."""

    def __init__(self, error: GatewayError) -> None:
        self.status_code, self.raw_headers, self.body = render_error(error)
        self.background = None


async def read_body(receive: Receive) -> bytes:
    """The whole body. One message (most requests) is returned as it is; a client that disconnects before its
    body ended is refused (400), so a truncated body is never served."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise InvalidRequest("The request body ended before its end: the client disconnected.")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.")


def limited(receive: Receive, limit: int) -> Receive:
    """`receive`, raising `too_large` once the body received exceeds `limit` bytes (for a body whose length was
    not declared: the server enforces a declared one)."""
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
        return message

    return limited_receive
