"""The `cohere` provider: chat v2 and embed v2 at the deployment's base URL (`https://api.cohere.com`).

Cohere's errors are `{"id": "...", "message": "..."}`: read as OpenAI-style errors (the message kept, the status
mapped, `Retry-After` read)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.auth import Auth, bearer
from oneflow_ai.providers.base import ProviderResult
from oneflow_ai.providers.cohere.chat import from_cohere, to_cohere, usage_of
from oneflow_ai.providers.cohere.embeddings import from_cohere_embed, to_cohere_embed
from oneflow_ai.providers.cohere.stream import CohereStream
from oneflow_ai.providers.embedding_list import embedding_list, encoding_of
from oneflow_ai.providers.openai import openai_style_error
from oneflow_ai.upstream.sse import SSEParser
from oneflow_ai.upstream.wire import UpstreamRequest

JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class CohereProvider:
    float_embeddings = True
    """Its embeddings answers are floats, given as base64 when the client asks (`embedding_list.as_requested`)."""

    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        return bearer(deployment.resolve_key(environ), deployment.headers)

    def _request(self, deployment: Deployment, path: str, payload: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        accept = {"accept": "text/event-stream"} if stream else {}
        headers = {**JSON_HEADERS, **accept, **deployment.headers}
        url = f"{deployment.url}{path}"
        return UpstreamRequest("POST", url, headers, orjson.dumps(payload), deployment.timeouts, deployment.provider)

    def chat_request(self, body: dict[str, Any], deployment: Deployment, *, stream: bool) -> UpstreamRequest:
        return self._request(deployment, "/v2/chat", to_cohere({**body, "stream": stream}), stream=stream)

    def chat_response(self, body: bytes, deployment: Deployment) -> ProviderResult:
        parsed = _json_object(body, deployment)
        if not isinstance(parsed.get("message"), dict):
            raise UpstreamError(f"{deployment.provider} sent a response with no message", provider=deployment.provider)
        completion = from_cohere(parsed, model=deployment.model, created=int(time.time()))
        return ProviderResult(orjson.dumps(completion), usage_of(parsed.get("usage")), deployment.model, completion)

    def chat_stream(self, deployment: Deployment, *, client_wants_usage: bool) -> CohereStream:
        return CohereStream(
            deployment.provider, model=deployment.model, client_wants_usage=client_wants_usage, created=int(time.time())
        )

    def stream_decoder(self, deployment: Deployment) -> SSEParser:
        return SSEParser()

    def embeddings_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        encoding_of(body)
        return self._request(deployment, "/v2/embed", to_cohere_embed(body), stream=False)

    def embeddings_response(self, body: bytes, deployment: Deployment) -> ProviderResult:
        embedded = from_cohere_embed(_json_object(body, deployment))
        if embedded is None:
            raise UpstreamError(f"{deployment.provider} sent no float embeddings", provider=deployment.provider)
        vectors, usage = embedded
        answer = embedding_list(vectors, deployment.model, usage.prompt_tokens if usage else 0)
        return ProviderResult(orjson.dumps(answer), usage, deployment.model, answer)

    def error(self, status: int, body: bytes, headers: Mapping[str, str], deployment: Deployment) -> UpstreamError:
        return openai_style_error(status, body, headers, deployment.provider, deployment=deployment.id)


def _json_object(body: bytes, deployment: Deployment) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamError(
            f"{deployment.provider} sent a response that is not a JSON object", provider=deployment.provider
        )
    return parsed
