"""The `google` provider: the Gemini API at `{base_url}/v1beta/models/{model}:{method}`, keyed by `x-goog-api-key`.

    - provider: google
      model: gemini-2.5-flash
      api_key: env:GEMINI_API_KEY        # the default
      # base_url: https://generativelanguage.googleapis.com

`VertexProvider` (`vertex`) speaks the same bodies at Vertex AI's URLs: what differs is `method_url` and `auth`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.auth import Auth, header_key
from oneflow_ai.providers.base import ProviderResult, Usage
from oneflow_ai.providers.embedding_list import embedding_list, encoding_of
from oneflow_ai.providers.google.chat import to_gemini
from oneflow_ai.providers.google.embeddings import from_gemini_embeddings, to_gemini_embeddings
from oneflow_ai.providers.google.errors import google_error
from oneflow_ai.providers.google.reply import from_gemini, usage_of
from oneflow_ai.providers.google.stream import GeminiStream
from oneflow_ai.upstream.sse import SSEParser
from oneflow_ai.upstream.wire import UpstreamRequest

JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class GeminiChat:
    """Chat over Gemini's `generateContent` and `streamGenerateContent`, wherever `method_url` puts them."""

    def method_url(self, deployment: Deployment, method: str) -> str:
        return f"{deployment.url}/v1beta/models/{deployment.model}:{method}"

    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        return header_key("x-goog-api-key", deployment.resolve_key(environ), deployment.headers)

    def _request(self, deployment: Deployment, url: str, payload: dict[str, Any]) -> UpstreamRequest:
        headers = {**JSON_HEADERS, **deployment.headers}
        return UpstreamRequest("POST", url, headers, orjson.dumps(payload), deployment.timeouts, deployment.provider)

    def chat_request(self, body: dict[str, Any], deployment: Deployment, *, stream: bool) -> UpstreamRequest:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return self._request(deployment, self.method_url(deployment, method), to_gemini(body))

    def chat_response(self, body: bytes, deployment: Deployment) -> ProviderResult:
        parsed = _json_object(body, deployment)
        if "candidates" not in parsed and "promptFeedback" not in parsed:
            raise UpstreamError(
                f"{deployment.provider} sent a response that is not a GenerateContentResponse",
                provider=deployment.provider,
            )
        completion = from_gemini(
            parsed, response_id=_response_id(parsed), model=deployment.model, created=int(time.time())
        )
        return ProviderResult(
            orjson.dumps(completion), usage_of(parsed.get("usageMetadata")), completion["model"], completion
        )

    def chat_stream(self, deployment: Deployment, *, client_wants_usage: bool) -> GeminiStream:
        return GeminiStream(
            deployment.provider,
            response_id=_response_id({}),
            model=deployment.model,
            client_wants_usage=client_wants_usage,
            created=int(time.time()),
        )

    def stream_decoder(self, deployment: Deployment) -> SSEParser:
        return SSEParser()

    def error(self, status: int, body: bytes, headers: Mapping[str, str], deployment: Deployment) -> UpstreamError:
        return google_error(status, body, headers, deployment.provider, deployment=deployment.id)


class GoogleProvider(GeminiChat):
    """Chat and embeddings on the Gemini API."""

    float_embeddings = True
    """Its embeddings answers are floats, given as base64 when the client asks (`embedding_list.as_requested`)."""

    def embeddings_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        encoding_of(body)  # refused before the call when it is not one we can give
        method, payload = to_gemini_embeddings(body, deployment.model)
        return self._request(deployment, self.method_url(deployment, method), payload)

    def embeddings_response(self, body: bytes, deployment: Deployment) -> ProviderResult:
        parsed = _json_object(body, deployment)
        vectors = from_gemini_embeddings(parsed)
        if vectors is None:
            raise UpstreamError(f"{deployment.provider} sent no embeddings", provider=deployment.provider)
        usage = usage_of(parsed.get("usageMetadata"))
        answer = embedding_list(vectors, deployment.model, usage.prompt_tokens if usage else 0)
        return ProviderResult(orjson.dumps(answer), usage, deployment.model, answer)


def _response_id(response: dict[str, Any]) -> str:
    given = response.get("responseId")
    return f"chatcmpl-{given if isinstance(given, str) and given else uuid.uuid4().hex}"


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


__all__ = ["GeminiChat", "GoogleProvider", "Usage"]
