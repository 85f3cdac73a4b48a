"""OpenAI's Responses API to OpenAI: a `POST /v1/responses` call served by an `openai` deployment, untranslated.

The caller's body goes to the deployment's `/responses` as it came (`model` set to the deployment's, and so
`previous_response_id`, `store`, built-in tools and the rest kept), and the answer, or its SSE events, come back
byte for byte. Only the accounting looks inside: the `usage` of a `response` object (`input_tokens`,
`input_tokens_details.cached_tokens`, `output_tokens`, reasoning tokens included in them as OpenAI bills them), or
of a stream's terminal event (`response.completed`, `response.incomplete`, `response.failed`).

Native only for the `openai` provider, whose API has it: the other OpenAI-compatible servers (Mistral, DeepSeek,
Together, ...) mostly do not, so a Responses call they serve is translated to chat completions like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import UpstreamError
from oneflow_ai.providers.base import Usage
from oneflow_ai.upstream.decoders import StreamEvent
from oneflow_ai.upstream.wire import UpstreamRequest

RESPONSES_WIRE = "responses"
NATIVE_PROVIDERS = frozenset({"openai"})
"""The providers whose API serves `/v1/responses` itself."""
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_DELTAS = (b'"response.output_text.delta"', b'"response.function_call_arguments.delta"', b'"response.refusal.delta"')


def responses_usage(usage: Any) -> Usage | None:
    """A Responses `usage` object as ours (`input_tokens` includes the cached ones, as OpenAI counts them)."""
    if not isinstance(usage, dict):
        return None
    details = usage.get("input_tokens_details")
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0), cached)


class OpenAIResponses:
    """The Responses API as a `providers.native.NativeProtocol`."""

    name = RESPONSES_WIRE

    def serves(self, deployment: Deployment) -> bool:
        return deployment.provider in NATIVE_PROVIDERS

    def request(
        self, body: Mapping[str, Any], deployment: Deployment, headers: Mapping[str, str], *, stream: bool
    ) -> UpstreamRequest:
        sent = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json"}
        sent |= {**headers, **deployment.headers}
        payload = orjson.dumps({**body, "model": deployment.model})
        url = f"{deployment.url}/responses"
        return UpstreamRequest("POST", url, sent, payload, deployment.timeouts, deployment.provider)

    def reply_usage(self, payload: bytes, provider: str) -> tuple[Usage | None, str | None]:
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or parsed.get("object") != "response":
            raise UpstreamError(f"{provider} sent a response that is not a Responses API response", provider=provider)
        model = parsed.get("model")
        return responses_usage(parsed.get("usage")), model if isinstance(model, str) else None

    def watch(self) -> ResponsesStreamWatch:
        return ResponsesStreamWatch()

    def stream_error(self, message: str) -> bytes:
        return stream_error_event(message, "server_error", 0)


OPENAI_RESPONSES = OpenAIResponses()


def stream_error_event(message: str, code: str, sequence_number: int) -> bytes:
    """The Responses API's `error` event."""
    data = {"type": "error", "code": code, "message": message, "param": None, "sequence_number": sequence_number}
    return b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"


class ResponsesStreamWatch:
    """Watches a Responses stream go by: the model (`response.created`), the usage and the end (a terminal event),
    an `error` event; the text deltas are kept as they came and read only when they have to be counted."""

    __slots__ = ("_deltas", "error", "model", "stopped", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.model: str | None = None
        self.stopped = False
        self.error: str | None = None
        self._deltas: list[bytes] = []

    def feed(self, event: StreamEvent) -> None:
        data = event.data
        name = event.event
        if name.endswith(".delta") if name is not None else any(d in data for d in _DELTAS):
            self._deltas.append(data)
        elif name in TERMINAL or name in ("response.created", "error") or name is None:
            self._look(data)

    def _look(self, data: bytes) -> None:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(parsed, dict):
            return
        kind = parsed.get("type")
        response = parsed.get("response")
        response = response if isinstance(response, dict) else {}
        if kind == "response.created" and isinstance(response.get("model"), str):
            self.model = response["model"]
        elif kind in TERMINAL:
            self.stopped = True
            self.usage = responses_usage(response.get("usage")) or self.usage
            error = response.get("error")
            if kind == "response.failed":
                self.error = str(error.get("message") if isinstance(error, dict) else "") or "response failed"
        elif kind == "error":
            self.error = str(parsed.get("message") or parsed.get("code") or "stream error")

    def completion_text(self) -> str:
        out: list[str] = []
        for data in self._deltas:
            try:
                delta = orjson.loads(data).get("delta")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if isinstance(delta, str):
                out.append(delta)
        return "".join(out)
