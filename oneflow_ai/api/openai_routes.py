"""The OpenAI-compatible API. Handlers are thin: authenticate, parse, call the pipeline, serialize."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from oneflow_ai.api.json_limits import check_depth
from oneflow_ai.api.responses import JSONBytes, to_response
from oneflow_ai.api.schemas import (
    ERRORS,
    ChatCompletion,
    ChatCompletionRequest,
    Embeddings,
    EmbeddingsRequest,
    Model,
    ModelList,
    body_schema,
)
from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.call import Call, chat_call, embeddings_call
from oneflow_ai.gateway.pipeline import complete
from oneflow_ai.gateway.runtime import Gateway, model_card

CallParser = Callable[[str, Principal, Any, str | None, str | None], Call]

router = APIRouter(tags=["OpenAI-compatible"], responses=ERRORS)


async def _authenticated(request: Request) -> tuple[Gateway, Principal]:
    gw: Gateway = request.state.gateway
    headers = request.headers
    return gw, await gw.auth.authenticate(headers.get("authorization"), headers.get("x-api-key"))


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return check_depth(raw, orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. The body must be a JSON object.", code="invalid_json"
        ) from None


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    openapi_extra=body_schema(ChatCompletionRequest),
    summary="Create a chat completion (streamed as server-sent events when stream is true)",
)
async def chat_completions(request: Request) -> Response:
    return await _serve(request, chat_call)


@router.post(
    "/embeddings", response_model=Embeddings, openapi_extra=body_schema(EmbeddingsRequest), summary="Create embeddings"
)
async def embeddings(request: Request) -> Response:
    return await _serve(request, embeddings_call)


async def _serve(request: Request, parse: CallParser) -> Response:
    """Authenticate, parse the body into a `Call`, run the pipeline, serialize its reply."""
    gw, principal = await _authenticated(request)
    headers = request.headers
    body = await _json(request)
    call = parse(request.state.request_id, principal, body, headers.get("x-user-id"), headers.get("x-oneflow-strategy"))
    return to_response(await complete(gw, call))


@router.get("/models", response_model=ModelList, summary="List the models this gateway serves")
async def list_models(request: Request) -> Response:
    gw, _ = await _authenticated(request)
    return JSONBytes(gw.models_listing)


@router.get("/models/{model_id:path}", response_model=Model, summary="Describe one model")
async def get_model(model_id: str, request: Request) -> Response:
    gw, _ = await _authenticated(request)
    return JSONBytes(orjson.dumps(model_card(model_id, gw.group(model_id))))
