"""The OpenAI wire protocol: OpenAI itself, every OpenAI-compatible server and `demo` (Azure OpenAI: `azure`).

The client's body is forwarded as it came (unknown fields included) with only `model` and
`stream_options` changed; the upstream's answer is relayed byte for byte after its usage is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import ContextWindowExceeded, UpstreamError, UpstreamRejected, upstream_error_for_status
from oneflow_ai.providers.auth import Auth, bearer
from oneflow_ai.providers.base import ProviderResult, Usage, keep_rate_limit
from oneflow_ai.providers.openai_media import OpenAIMedia
from oneflow_ai.upstream.sse import DONE, SSEEvent, SSEParser, frame
from oneflow_ai.upstream.wire import UpstreamRequest

JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class OpenAIProvider(OpenAIMedia):
    """Speaks OpenAI's `/chat/completions` and `/embeddings` at the deployment's base URL (and its images, speech
    and transcriptions: `OpenAIMedia`)."""

    def url(self, deployment: Deployment, endpoint: str) -> str:
        return f"{deployment.url}/{endpoint}"

    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        return bearer(deployment.resolve_key(environ), deployment.headers)

    def _request(self, deployment: Deployment, endpoint: str, body: bytes) -> UpstreamRequest:
        headers = {**JSON_HEADERS, **deployment.headers}
        return UpstreamRequest(
            "POST", self.url(deployment, endpoint), headers, body, deployment.timeouts, deployment.provider
        )

    def chat_request(self, body: dict[str, Any], deployment: Deployment, *, stream: bool) -> UpstreamRequest:
        if stream:
            options = body.get("stream_options")
            body = {**body, "stream_options": {**(options if isinstance(options, dict) else {}), "include_usage": True}}
        return self._request(deployment, "chat/completions", orjson.dumps(body))

    def chat_response(self, body: bytes, deployment: Deployment) -> ProviderResult:
        parsed = _json_object(body, deployment)
        return ProviderResult(body, Usage.from_openai(parsed.get("usage")), parsed.get("model"), parsed)

    def chat_stream(self, deployment: Deployment, *, client_wants_usage: bool) -> OpenAIStream:
        return OpenAIStream(client_wants_usage)

    def stream_decoder(self, deployment: Deployment) -> SSEParser:
        return SSEParser()

    def embeddings_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        return self._request(deployment, "embeddings", orjson.dumps(body))

    def embeddings_response(self, body: bytes, deployment: Deployment) -> ProviderResult:
        parsed = _json_object(body, deployment)
        return ProviderResult(body, Usage.from_openai(parsed.get("usage")), parsed.get("model"), parsed)

    def error(self, status: int, body: bytes, headers: Mapping[str, str], deployment: Deployment) -> UpstreamError:
        return openai_style_error(status, body, headers, deployment.provider, deployment=deployment.id)


class OpenAIStream:
    """OpenAI chunks pass through unchanged; the usage chunk is read, and dropped unless the client asked. A
    client that asked for it gets one usage chunk: the upstream's, else the gateway's count (`finish`)."""

    __slots__ = ("_chunks", "_wants_usage", "usage")

    def __init__(self, client_wants_usage: bool) -> None:
        self.usage: Usage | None = None
        self._wants_usage = client_wants_usage
        self._chunks: list[bytes] = []

    def feed(self, event: SSEEvent) -> list[bytes]:
        data = event.data
        if data == b"[DONE]" or not data:
            return []
        if b'"usage"' in data:
            parsed = orjson.loads(data)
            usage = Usage.from_openai(parsed.get("usage"))
            if usage is not None:
                self.usage = usage
                if not parsed.get("choices") and not self._wants_usage:
                    return []
        self._chunks.append(data)
        return [frame(data)]

    def finish(self, counted: Usage | None = None) -> list[bytes]:
        if counted is None or self.usage is not None or not self._wants_usage:
            return [DONE]
        chunk = {**_chunk_identity(self._chunks), "choices": [], "usage": counted.to_openai()}
        return [frame(orjson.dumps(chunk)), DONE]

    def completion_text(self) -> str:
        parts: list[str] = []
        for data in self._chunks:
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                parts.append(delta.get("content") or "")
                for call in delta.get("tool_calls") or ():
                    parts.append((call.get("function") or {}).get("arguments") or "")
        return "".join(parts)


def _chunk_identity(chunks: list[bytes]) -> dict[str, Any]:
    """The stream's `id`, `object`, `created` and `model`, as its first chunk gave them, for a chunk of our own."""
    identity: dict[str, Any] = {"id": "", "object": "chat.completion.chunk", "created": 0, "model": ""}
    try:
        first = orjson.loads(chunks[0]) if chunks else None
    except orjson.JSONDecodeError:
        first = None
    if isinstance(first, dict):
        identity.update({k: first[k] for k in ("id", "created", "model", "system_fingerprint") if k in first})
    return identity


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


def openai_style_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str, *, deployment: str = ""
) -> UpstreamError:
    """An upstream error with the upstream's own message, type, code and param kept (for a caller's 4xx);
    a refused credential (401/403) is `UpstreamAuthFailed`, which keeps none of them."""
    detail: dict[str, Any] = {}
    try:
        parsed = orjson.loads(body)
        if isinstance(parsed, dict):
            inner = parsed.get("error", parsed)
            detail = inner if isinstance(inner, dict) else {"message": str(inner)}
    except orjson.JSONDecodeError:
        pass
    message = str(detail.get("message") or body[:500].decode(errors="replace") or f"HTTP {status}")
    code = detail.get("code")
    if status == 400 and (code == "context_length_exceeded" or "context length" in message.lower()):
        err: UpstreamError = ContextWindowExceeded(message, param=detail.get("param"), provider=provider)
    else:
        err = upstream_error_for_status(status, f"{provider}: {message}", provider=provider, deployment=deployment)
        if isinstance(err, UpstreamRejected):
            err.type = str(detail.get("type") or err.type)
            err.code = str(code) if code is not None else err.code
            err.param = detail.get("param")
    return keep_rate_limit(err, headers)
