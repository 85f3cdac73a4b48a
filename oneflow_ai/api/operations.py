"""The per-request operations of the API, each declared once: `OPERATIONS`.

An operation is what a client calls (chat completions, embeddings, Anthropic messages, the model list): its
path (served under each of `PREFIXES`), how its body is parsed, the capability a provider needs to serve it, the
unit it is priced in, whether it streams, whether `Idempotency-Key` applies, and how the OpenAPI document
describes it. Everything that lists routes reads this table:

- the fast lane's routes (`fast_routes`): the handlers served straight from ASGI, one dict lookup per request;
- the documented routes (`document`): FastAPI routes that run the same handlers, so `/openapi.json`
  describes them (and a request that reaches FastAPI is still served);
- the idempotent paths (`idempotent_paths`) that `api.idempotency` applies to.

A new endpoint (images, speech, transcription, Responses, `messages/count_tokens`) is one more entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.responses import Response

from oneflow_ai.api import anthropic_routes, count_tokens_routes, media_routes, openai_routes, responses_routes
from oneflow_ai.api.fast_lane import Handler, as_starlette
from oneflow_ai.api.media_schemas import ImageRequest, Images, SpeechRequest, Transcription
from oneflow_ai.api.schemas import (
    ANTHROPIC_ERRORS,
    ERRORS,
    ChatCompletion,
    ChatCompletionRequest,
    Embeddings,
    EmbeddingsRequest,
    ModelList,
    body_schema,
)

PREFIXES = ("/v1", "/api/v1")
"""Every operation is served under each: OpenAI's SDKs take a base URL ending in `/v1`, the gateway's own API is
under `/api/v1`."""

Body = Literal["json", "multipart", "none"]
Capability = Literal["chat", "embeddings", "images", "speech", "transcription", "models"]
"""What a provider must be able to do to serve the operation (`models`: none, the gateway answers itself)."""
PriceUnit = Literal["tokens", "images", "characters", "seconds", "none"]


@dataclass(frozen=True, slots=True)
class Docs:
    """How the OpenAPI document describes an operation."""

    summary: str
    tag: str
    errors: Mapping[int | str, dict[str, Any]]
    response_model: type[BaseModel] | None = None
    request_model: type[BaseModel] | None = None
    """The JSON body's schema (for `body="json"`); none documented when absent."""


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    """Also the name of its documented route (and so part of its OpenAPI `operationId`)."""
    method: Literal["GET", "POST"]
    path: str
    """Without the prefix: `/chat/completions`."""
    handler: Handler
    body: Body
    capability: Capability
    price_unit: PriceUnit
    streams: bool
    """Answers with server-sent events when the request asks for a stream."""
    idempotent: bool
    docs: Docs = field(compare=False)

    def paths(self) -> tuple[str, ...]:
        return tuple(prefix + self.path for prefix in PREFIXES)


OPENAI = "OpenAI-compatible"
ANTHROPIC = "Anthropic-compatible"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "chat_completions",
        "POST",
        "/chat/completions",
        openai_routes.serve_chat,
        body="json",
        capability="chat",
        price_unit="tokens",
        streams=True,
        idempotent=True,
        docs=Docs(
            "Create a chat completion (streamed as server-sent events when stream is true)",
            OPENAI,
            ERRORS,
            ChatCompletion,
            ChatCompletionRequest,
        ),
    ),
    Operation(
        "embeddings",
        "POST",
        "/embeddings",
        openai_routes.serve_embeddings,
        body="json",
        capability="embeddings",
        price_unit="tokens",
        streams=False,
        idempotent=True,
        docs=Docs("Create embeddings", OPENAI, ERRORS, Embeddings, EmbeddingsRequest),
    ),
    Operation(
        "images_generations",
        "POST",
        "/images/generations",
        media_routes.serve_images,
        body="json",
        capability="images",
        price_unit="images",
        streams=False,
        idempotent=True,
        docs=Docs("Generate images (a model group of mode image_generation)", OPENAI, ERRORS, Images, ImageRequest),
    ),
    Operation(
        "audio_speech",
        "POST",
        "/audio/speech",
        media_routes.serve_speech,
        body="json",
        capability="speech",
        price_unit="characters",
        streams=False,  # the audio bytes are relayed as they arrive, not as server-sent events
        idempotent=True,
        docs=Docs(
            "Speak text (a model group of mode audio_speech); the audio is streamed as it is made",
            OPENAI,
            ERRORS,
            request_model=SpeechRequest,
        ),
    ),
    Operation(
        "audio_transcriptions",
        "POST",
        "/audio/transcriptions",
        media_routes.serve_transcription,
        body="multipart",
        capability="transcription",
        price_unit="seconds",
        streams=False,
        idempotent=True,
        docs=Docs("Transcribe audio (a model group of mode audio_transcription)", OPENAI, ERRORS, Transcription),
    ),
    Operation(
        "list_models",
        "GET",
        "/models",
        openai_routes.serve_models,
        body="none",
        capability="models",
        price_unit="none",
        streams=False,
        idempotent=False,
        docs=Docs("List the models this gateway serves", OPENAI, ERRORS, ModelList),
    ),
    Operation(
        "messages",
        "POST",
        "/messages",
        anthropic_routes.serve_messages,
        body="json",
        capability="chat",
        price_unit="tokens",
        streams=True,
        idempotent=False,
        docs=Docs(
            "Create a message (Anthropic Messages API), served by any configured provider", ANTHROPIC, ANTHROPIC_ERRORS
        ),
    ),
    Operation(
        "count_tokens",
        "POST",
        "/messages/count_tokens",
        count_tokens_routes.serve_count_tokens,
        body="json",
        capability="chat",
        price_unit="none",  # free: asked of Anthropic, or counted by the gateway; not recorded
        streams=False,
        idempotent=False,
        docs=Docs(
            "Count the input tokens of a message (Anthropic Messages API): Anthropic's count, else the gateway's",
            ANTHROPIC,
            ANTHROPIC_ERRORS,
        ),
    ),
    Operation(
        "responses",
        "POST",
        "/responses",
        responses_routes.serve_responses,
        body="json",
        capability="chat",
        price_unit="tokens",
        streams=True,
        idempotent=False,  # its stream ends with `response.completed`, not the `[DONE]` idempotency keeps
        docs=Docs(
            "Create a model response (OpenAI Responses API): passed through to OpenAI, translated for other providers",
            OPENAI,
            ERRORS,
        ),
    ),
)


def fast_routes(operations: Iterable[Operation]) -> dict[tuple[str, str], Handler]:
    """`(method, path) -> handler` for the fast lane."""
    return {(op.method, path): op.handler for op in operations for path in op.paths()}


def idempotent_paths(operations: Iterable[Operation]) -> frozenset[str]:
    """The paths where `Idempotency-Key` applies (all `POST`)."""
    return frozenset(path for op in operations if op.idempotent for path in op.paths())


def document(app: FastAPI, operations: Iterable[Operation]) -> None:
    """Add each operation to `app` as a FastAPI route running its handler, under each prefix."""
    for prefix in PREFIXES:
        for op in operations:
            app.add_api_route(
                prefix + op.path,
                _endpoint(op.handler),
                methods=[op.method],
                name=op.name,
                summary=op.docs.summary,
                tags=[op.docs.tag],
                response_model=op.docs.response_model,
                responses=_responses(op),
                openapi_extra=_request_body(op),
            )


def _endpoint(handler: Handler) -> Any:
    async def endpoint(request: Request) -> Response:
        return await as_starlette(handler, request)

    return endpoint


def _responses(op: Operation) -> dict[int | str, dict[str, Any]]:
    responses = dict(op.docs.errors)
    if op.streams:  # beside the JSON answer that `response_model` documents
        responses[200] = {"content": {"text/event-stream": {"schema": {"type": "string"}}}}
    return responses


def _request_body(op: Operation) -> dict[str, Any] | None:
    if op.body == "json" and op.docs.request_model is not None:
        return body_schema(op.docs.request_model)
    if op.body == "multipart":
        content = {"multipart/form-data": {"schema": {"type": "object"}}}
        return {"requestBody": {"required": True, "content": content}}
    return None
