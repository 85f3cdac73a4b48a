"""The HTTP edge's one error renderer and one body reader (`api.wire`), and the places that use them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.types import Message

from oneflow_ai.api.fast_lane import FastLane, Inbound, Reply
from oneflow_ai.api.http_protocol import answer
from oneflow_ai.api.idempotency import Idempotency
from oneflow_ai.api.wire import ErrorResponse, read_body, render_error
from oneflow_ai.errors import GatewayError, PayloadTooLarge, RateLimited
from oneflow_ai.gateway.call import JSONReply

CUT = [{"type": "http.request", "body": b'{"model": "m"}', "more_body": True}, {"type": "http.disconnect"}]
"""A body whose first part is valid JSON on its own, then the client leaves before the rest."""


def receiving(messages: list[Message]) -> Any:
    pending: Iterator[Message] = iter(messages)

    async def receive() -> Message:
        return next(pending)

    return receive


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/v1/x",
        "headers": [],
        "state": {"request_id": "r1", "gateway": None},
    }


class Sent(list[Message]):
    async def __call__(self, message: Message) -> None:
        self.append(message)


async def test_read_body_joins_the_parts() -> None:
    parts = [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"c"}]
    assert await read_body(receiving(parts)) == b"abc"
    assert await read_body(receiving([{"type": "http.request", "body": b"abc"}])) == b"abc"


async def test_a_body_cut_by_a_disconnect_is_not_served() -> None:
    """Before, the fast lane (and idempotency) served the part that had arrived as if it were the whole body."""
    served: list[bytes] = []

    async def handler(inbound: Inbound) -> Reply:
        served.append(inbound.body)
        return JSONReply(b"{}", {})

    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not the fast lane's route")

    sent = Sent()
    await FastLane(never, {("POST", "/v1/x"): handler})(scope(), receiving(CUT), sent)
    assert served == []
    assert sent[0]["status"] == 400
    assert orjson.loads(sent[1]["body"])["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "error", [RateLimited("slow down", headers={"Retry-After": "7"}), PayloadTooLarge("too big"), GatewayError("bug")]
)
async def test_every_edge_renders_an_error_the_same_way(error: GatewayError) -> None:
    status, headers, body = render_error(error)
    assert orjson.loads(body) == error.body()
    assert (b"content-length", str(len(body)).encode()) in headers

    lane = Sent()  # the fast lane: a handler that raised

    async def failing(inbound: Inbound) -> Reply:
        raise error

    await FastLane(failing, {("POST", "/v1/x"): failing})(scope(), receiving([{"type": "http.request"}]), lane)
    assert (lane[0]["status"], lane[0]["headers"], lane[1]["body"]) == (status, headers, body)

    starlette = Sent()  # FastAPI's exception handlers
    await ErrorResponse(error)({"type": "http"}, receiving([]), starlette)
    assert (starlette[0]["status"], starlette[0]["headers"], starlette[1]["body"]) == (status, headers, body)

    idempotency = Sent()  # idempotency, refusing before the route (here: a key that is too long)
    refused = Idempotency(failing, {"/v1/x"})
    keyed = {**scope(), "headers": [(b"idempotency-key", b"k" * 256)], "state": {"idempotency": object()}}
    await refused(keyed, receiving([]), idempotency)
    assert idempotency[0]["status"] == 400 and idempotency[0]["headers"][:1] == headers[:1]

    raw = answer(error, [])  # the server protocol's own answer
    head, _, written = raw.partition(b"\r\n\r\n")
    assert written == body
    for name, value in headers:
        assert b"\r\n" + name + b": " + value + b"\r\n" in head + b"\r\n"
