"""The fast lane: the hot OpenAI-compatible routes served straight from ASGI, in front of FastAPI.

FastAPI's routing and dependency layer costs about half of a relay's throughput (bench/probes/RESULTS.md),
and Starlette's `Request`/`Response` objects a good part of the rest, so the handful of per-request routes
skip both: the lane looks up `(method, path)` in a table, reads the body, hands the handler an `Inbound`
(raw headers, body, request id, gateway) and sends the `JSONReply` or `StreamReply` it returns as ASGI
messages. The table is read from `operations.OPERATIONS`, which also documents the same handlers as FastAPI
routes (`as_starlette` runs a handler there). Every other path goes to the FastAPI application. Errors are
rendered, and bodies read, by `api.wire`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from oneflow_ai.api.http_cycle import Cycle, cycle_of
from oneflow_ai.api.wire import JSON_TYPE, ErrorResponse, raw_headers, read_body, send_error
from oneflow_ai.errors import GatewayError, ShuttingDown
from oneflow_ai.gateway import balancer_claim
from oneflow_ai.gateway.call import JSONReply, Receiver, StreamReply
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.upstream.sse import frame

log = logging.getLogger("oneflow")


@dataclass(slots=True)
class Inbound:
    """One request on a hot route, as its handler sees it."""

    gateway: Gateway
    request_id: str
    headers: dict[bytes, bytes]
    """Raw header names (lowercase, as ASGI gives them) to values; the last one wins when a name repeats."""
    body: bytes
    client_request_id: str | None = None
    """The client's own `x-request-id`, when it sent one (see `api.edge`)."""

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    @property
    def balancer_id(self) -> str | None:
        """The load balancer's id for this client request (`gateway.balancer_claim`), when it sent one."""
        return balancer_claim.balancer_id(self.header(balancer_claim.HEADER))


Reply = JSONReply | StreamReply
Handler = Callable[[Inbound], Awaitable[Reply]]


class FastLane:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Handler]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.routes.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        scope["oneflow.route"] = scope["path"]  # the route label of metrics and traces (a fixed table, so bounded)
        state = scope["state"]
        request_id: str = state["request_id"]
        try:
            body = await read_body(receive)
            inbound = Inbound(
                state["gateway"], request_id, dict(scope["headers"]), body, state.get("client_request_id")
            )
            reply = await handler(inbound)
        except GatewayError as e:
            await send_error(send, e)
            return
        except Exception:
            await send_error(send, unexpected_error(request_id))
            return
        await send_reply(reply, scope, receive, send)


def unexpected_error(request_id: str | None) -> GatewayError:
    """A bug: logged with its traceback, answered as OpenAI error JSON without one."""
    log.exception("unhandled error", extra={"request_id": request_id})
    return GatewayError(f"The server had an error while processing your request (request id {request_id}).")


async def send_reply(reply: Reply, scope: Scope, receive: Receive, send: Send) -> None:
    if isinstance(reply, StreamReply):
        await send_stream(reply, cycle_of(scope), receive, send)
        return
    headers = [JSON_TYPE, (b"content-length", b"%d" % len(reply.body))]
    if reply.headers:
        if "content-type" in reply.headers:  # not JSON: a transcription as text, say
            del headers[0]
        headers += raw_headers(reply.headers)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


async def send_stream(reply: StreamReply, cycle: Cycle | None, receive: Receive, send: Send) -> None:
    """Relay frames as they come. A client disconnect cancels the relay, which closes the upstream, and is told
    to the relay (`reply.receiver`): frames it had already been given are dropped by the server, so a relay that
    finishes after its client left must not record that it was delivered. The server hears of a disconnect a turn
    of the event loop late, and a write into a broken connection never waits, so a relay holding the rest of
    its upstream's answer could finish first: the server's cycle (`cycle`, when the server is ours) is asked
    after each frame.

    Only the server cancels this task: the shutdown's grace ran out (`gateway.drain`). The relay is cancelled
    (and records the stream as cut) and the stream ends with a `shutting_down` error event, as OpenAI ends a
    stream that failed, instead of breaking off."""
    frames = reply.frames
    await send({"type": "http.response.start", "status": 200, "headers": raw_headers(reply.headers)})
    pump = asyncio.ensure_future(_pump(frames, send, reply.receiver, cycle))
    watch = asyncio.ensure_future(_disconnected(receive, reply.receiver))
    cut = False
    try:
        await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        cut = True
    finally:
        watch.cancel()
        if not pump.done():
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await pump
        await frames.aclose()  # type: ignore[attr-defined]
    if cut:
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        event = frame(orjson.dumps(ShuttingDown("The gateway is shutting down; the stream was cut.").body()))
        await send({"type": "http.response.body", "body": event, "more_body": False})


async def _pump(frames: AsyncIterator[bytes], send: Send, receiver: Receiver, cycle: Cycle | None) -> None:
    async for chunk in frames:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if cycle is not None and cycle.client_gone:
            receiver.left = True
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive, receiver: Receiver) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    receiver.left = True


class ReplyResponse(Response):
    """A fast-lane reply sent from a Starlette/FastAPI route."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.status_code = reply.status if isinstance(reply, JSONReply) else 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_reply(self.reply, scope, receive, send)


async def as_starlette(handler: Handler, request: Request) -> Response:
    """Run a fast-lane handler for a FastAPI route (the same handler, documented in the OpenAPI schema)."""
    state = request.scope["state"]
    try:
        body = await read_body(request.receive)
        inbound = Inbound(
            state["gateway"], state["request_id"], dict(request.scope["headers"]), body, state.get("client_request_id")
        )
        return ReplyResponse(await handler(inbound))
    except GatewayError as e:
        return ErrorResponse(e)
