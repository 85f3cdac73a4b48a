"""The spans inside a request: `auth` (a wrapper of the authenticator), `route` and one per upstream attempt
(an `Observer`), and the `traceparent` each upstream request carries (a wrapper of the transport).

An attempt span is made current while the attempt runs, so the transport injects its context. A failed
attempt's span ends with the failure; the serving attempt's span stays open until the ledger record
(the end of the stream, for a stream) and then carries the usage. The span names and `gen_ai.*`
attributes follow OpenTelemetry's GenAI semantic conventions.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, StatusCode

from oneflow_ai.auth.principal import Authenticator, Principal
from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import GatewayError
from oneflow_ai.gateway.call import Call
from oneflow_ai.observability.tracing import RequestSpans, Tracing
from oneflow_ai.store.ledger import UsageRecord
from oneflow_ai.upstream.wire import Transport, UpstreamRequest, UpstreamResponse

GEN_AI_SYSTEM = {"azure": "az.ai.openai", "mistral": "mistral_ai", "openai_compatible": "openai"}
"""Providers whose `gen_ai.system` value differs from our provider name."""

OWN_OPERATIONS = frozenset({"embeddings", "images", "speech", "transcription"})
"""Calls whose span is named after their own endpoint (`gen_ai.operation.name`); the others are chat."""


class AttemptSpans:
    def __init__(self, tracing: Tracing) -> None:
        self.tracing = tracing

    def attempt_started(self, call: Call, deployment: Deployment) -> None:
        spans = self.tracing.current()
        if spans is None:
            return
        if not spans.routed:
            spans.routed = True
            self._route_span(call)
        operation = call.endpoint if call.endpoint in OWN_OPERATIONS else "chat"
        span = self.tracing.tracer.start_span(
            f"{operation} {deployment.model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": operation,
                "gen_ai.system": GEN_AI_SYSTEM.get(deployment.provider, deployment.provider),
                "gen_ai.request.model": deployment.model,
                "oneflow.deployment": deployment.id,
                "oneflow.model": call.model,
            },
        )
        spans.attempt = span
        spans.token = context.attach(trace.set_span_in_context(span))

    def stream_opened(self, call: Call, deployment: Deployment) -> None:
        """The span stops being current here, in the task that made it current (the stream is relayed from
        another); it stays open until the record."""
        spans = self.tracing.current()
        if spans is not None:
            self._detach(spans)

    def attempt_finished(
        self, call: Call, deployment: Deployment, error: GatewayError | None, latency_s: float, ttft_s: float | None
    ) -> None:
        spans = self.tracing.current()
        if spans is None or spans.attempt is None:
            return
        serving = spans.token is None  # a stream past its first chunk (`stream_opened`): its record follows
        self._detach(spans)
        if error is not None:
            spans.attempt.set_attribute("error.type", type(error).code or type(error).__name__)
            spans.attempt.set_status(StatusCode.ERROR, type(error).__name__)
            if not serving:
                spans.close()

    def recorded(self, call: Call, record: UsageRecord) -> None:
        spans = self.tracing.current()
        if spans is None:
            return
        if not spans.routed:  # refused before any attempt
            spans.routed = True
            self._route_span(call, status=record.status)
        span = spans.attempt
        if span is None:
            return
        if record.served_model:
            span.set_attribute("gen_ai.response.model", record.served_model)
        span.set_attribute("gen_ai.usage.input_tokens", record.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", record.output_tokens)
        if record.status != "ok":
            span.set_status(StatusCode.ERROR, record.status)
        spans.close()

    @staticmethod
    def _detach(spans: RequestSpans) -> None:
        if spans.token is not None:
            context.detach(spans.token)
            spans.token = None

    def _route_span(self, call: Call, status: str | None = None) -> None:
        """From the call's creation (after auth) to now: parsing, admission and planning."""
        started = int(call.created_at.timestamp() * 1e9)
        span = self.tracing.tracer.start_span(
            "route",
            start_time=started,
            attributes={
                "oneflow.model": call.model,
                "oneflow.endpoint": call.endpoint,
                "oneflow.stream": call.stream,
            },
        )
        if status is not None:
            span.set_attribute("oneflow.status", status)
            span.set_status(StatusCode.ERROR, status)
        span.end(time.time_ns())


class TracedAuth:
    """The authenticator, inside an `auth` span. Neither the key nor the error message go on the span."""

    def __init__(self, inner: Authenticator, tracing: Tracing) -> None:
        self.inner = inner
        self.tracing = tracing

    async def authenticate(self, authorization: str | None, x_api_key: str | None) -> Principal:
        with self.tracing.tracer.start_as_current_span(
            "auth", record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                principal = await self.inner.authenticate(authorization, x_api_key)
            except GatewayError as e:
                span.set_status(StatusCode.ERROR, e.code)
                raise
            span.set_attribute("oneflow.key_id", principal.key_id)
            return principal

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class TracedTransport:
    """Adds the current span's `traceparent` (and `tracestate`) to each upstream request."""

    def __init__(self, inner: Transport, tracing: Tracing) -> None:
        self.inner = inner
        self.tracing = tracing

    async def send(self, request: UpstreamRequest, *, stream: bool) -> UpstreamResponse:
        carrier: dict[str, str] = {}
        self.tracing.inject(carrier)
        if carrier:
            request = dataclasses.replace(request, headers={**request.headers, **carrier})
        return await self.inner.send(request, stream=stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
