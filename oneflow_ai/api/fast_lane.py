"""The fast lane: the hot OpenAI-compatible routes served straight from ASGI, in front of FastAPI.

FastAPI's routing and dependency layer costs about half of a relay's throughput (bench/probes/RESULTS.md),
so the handful of per-request routes skip it: the lane looks up `(method, path)` in a table and calls the
very same handler functions FastAPI exposes (and documents in the OpenAPI schema), with the same error
rendering. Every other path goes to the FastAPI application.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from oneflow_ai.api.responses import error_response
from oneflow_ai.errors import GatewayError

Handler = Callable[[Request], Awaitable[Response]]

log = logging.getLogger("oneflow")


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
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except GatewayError as e:
            response = error_response(e)
        except Exception:
            response = unexpected_error(request)
        await response(scope, receive, send)


def unexpected_error(request: Request) -> Response:
    """A bug: logged with its traceback, answered as OpenAI error JSON without one."""
    rid = getattr(request.state, "request_id", None)
    log.exception("unhandled error", extra={"request_id": rid})
    return error_response(GatewayError(f"The server had an error while processing your request (request id {rid})."))
