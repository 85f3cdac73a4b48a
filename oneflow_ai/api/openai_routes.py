"""The OpenAI-compatible API. Handlers are thin: authenticate, parse, call the pipeline, return its reply.

The per-request handlers run in the fast lane (`fast_lane.py`) on an `Inbound`; they are declared, with their
paths and documentation, in `operations.OPERATIONS`. The router below holds the routes that are not per-request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from oneflow_ai.api.fast_lane import Inbound, Reply
from oneflow_ai.api.json_limits import check_depth
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.api.schemas import ERRORS, Model
from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.call import Call, JSONReply, chat_call, embeddings_call
from oneflow_ai.gateway.pipeline import complete
from oneflow_ai.gateway.runtime import Gateway, model_card

CallParser = Callable[[str, Principal, Any, str | None, str | None], Call]

router = APIRouter(tags=["OpenAI-compatible"], responses=ERRORS)


async def authenticated(inbound: Inbound) -> Principal:
    return await inbound.gateway.auth.authenticate(inbound.header(b"authorization"), inbound.header(b"x-api-key"))


def parse_json(raw: bytes) -> Any:
    try:
        return check_depth(raw, orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. The body must be a JSON object.", code="invalid_json"
        ) from None


async def serve_chat(inbound: Inbound) -> Reply:
    return await _serve(inbound, chat_call)


async def serve_embeddings(inbound: Inbound) -> Reply:
    return await _serve(inbound, embeddings_call)


async def _serve(inbound: Inbound, parse: CallParser) -> Reply:
    """Authenticate, parse the body into a `Call`, run the pipeline."""
    principal = await authenticated(inbound)
    body = parse_json(inbound.body)
    call = parse(
        inbound.request_id, principal, body, inbound.header(b"x-user-id"), inbound.header(b"x-oneflow-strategy")
    )
    call.client_request_id = inbound.client_request_id
    call.balancer_id = inbound.balancer_id
    call.cache_control = inbound.header(b"cache-control")
    return await complete(inbound.gateway, call)


async def serve_models(inbound: Inbound) -> Reply:
    await authenticated(inbound)
    return JSONReply(inbound.gateway.models_listing, {})


@router.get("/models/{model_id:path}", response_model=Model, summary="Describe one model")
async def get_model(model_id: str, request: Request) -> Response:
    gw: Gateway = request.state.gateway
    headers = request.headers
    await gw.auth.authenticate(headers.get("authorization"), headers.get("x-api-key"))
    return JSONBytes(orjson.dumps(model_card(model_id, gw.group(model_id))))
