"""OpenTelemetry traces, off unless `ONEFLOW_OTEL_ENABLED` (then nothing of this module is even imported).

When on, a request is one trace: the server span (this module's ASGI middleware, continuing the client's
W3C `traceparent` when it sent one), then `auth`, `route` (parsing, admission and planning) and one
client span per upstream attempt with the GenAI semantic-convention attributes (`attempt_spans.py`).
The upstream request carries a `traceparent` naming its attempt span, so the provider's spans (a vLLM
server's, say) join the same trace. Spans go to an OTLP/HTTP collector (`OTEL_EXPORTER_OTLP_ENDPOINT`).

Nothing here is global: the `TracerProvider` is this gateway's own (never `set_tracer_provider`), and
the per-request state travels in the OpenTelemetry context under a key this instance created.
"""

from __future__ import annotations

from contextvars import Token
from dataclasses import dataclass
from typing import Any

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oneflow_ai import __version__
from oneflow_ai.observability.http_metrics import route_template
from oneflow_ai.settings import Settings

PROPAGATED = (b"traceparent", b"tracestate")


def span_processor(settings: Settings) -> SpanProcessor:
    """Batches spans to the OTLP/HTTP exporter (the `otel` extra). Tests swap this for an in-memory one."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = settings.otel_endpoint.rstrip("/") + "/v1/traces" if settings.otel_endpoint else None
    return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))


@dataclass(slots=True)
class RequestSpans:
    """What one request's spans need to share: the open attempt span, and whether `route` was emitted."""

    attempt: trace.Span | None = None
    token: Token[context.Context] | None = None
    routed: bool = False

    def close(self) -> None:
        if self.attempt is not None:
            self.attempt.end()
            self.attempt = None


class Tracing:
    def __init__(self, processor: SpanProcessor) -> None:
        resource = Resource.create({"service.name": "oneflow", "service.version": __version__})
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("oneflow_ai", __version__)
        self.propagator = TraceContextTextMapPropagator()
        self.key = context.create_key("oneflow-request-spans")

    def current(self) -> RequestSpans | None:
        spans = context.get_value(self.key)
        return spans if isinstance(spans, RequestSpans) else None

    def inject(self, headers: dict[str, str]) -> None:
        self.propagator.inject(headers)

    def shutdown(self) -> None:
        self.provider.shutdown()


class TracingMiddleware:
    """The server span of each HTTP request. Sits inside the edge, so the request id is known."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracing: Tracing | None = scope.get("state", {}).get("tracing") if scope["type"] == "http" else None
        if tracing is None:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in PROPAGATED}
        spans = RequestSpans()
        token = context.attach(context.set_value(tracing.key, spans, tracing.propagator.extract(carrier)))
        status = 0

        async def traced_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope["method"]
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "oneflow.request_id": scope["state"].get("request_id", ""),
        }
        try:
            with tracing.tracer.start_as_current_span(method, kind=SpanKind.SERVER, attributes=attributes) as span:
                try:
                    await self.app(scope, receive, traced_send)
                finally:
                    route = route_template(scope)
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(StatusCode.ERROR)
                    spans.close()
        finally:
            context.detach(token)
