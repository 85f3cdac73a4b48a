"""What the app's lifespan starts for observability and the hardened edge, and closes at shutdown:
the metrics (and their observer), the request log, traces when enabled, the idempotency store.

The ASGI middlewares (built once in `create_app`) find these in the lifespan state of each request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oneflow_ai.api.idempotency_store import IdempotencyStore, MemoryIdempotencyStore, RedisIdempotencyStore
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.observability.llm_metrics import LLMMetrics
from oneflow_ai.observability.metrics import Metrics
from oneflow_ai.observability.request_log import RequestLog
from oneflow_ai.settings import Settings

if TYPE_CHECKING:  # the tracing module imports OpenTelemetry, an optional extra
    from oneflow_ai.observability.tracing import Tracing


class Observability:
    def __init__(self, settings: Settings, gateway: Gateway) -> None:
        self.settings = settings
        self.metrics = Metrics(gateway, per_key=settings.metrics_per_key)
        deployments = {d.id: d for g in gateway.config.models for d in g.deployments}
        gateway.observe(LLMMetrics(self.metrics, deployments), RequestLog())
        self.tracing: Tracing | None = None
        if settings.otel_enabled:
            self.tracing = _traced(settings, gateway)
        self.idempotency: IdempotencyStore = (
            RedisIdempotencyStore(gateway.redis, settings.idempotency_ttl_s)
            if gateway.redis is not None
            else MemoryIdempotencyStore(
                settings.idempotency_ttl_s,
                max_bytes=settings.idempotency_max_bytes,
                evicted=self.metrics.idempotency_evictions.inc,
            )
        )

    def start(self) -> dict[str, Any]:
        """Start what runs in the background; returns what goes into the lifespan state."""
        self.metrics.start()
        return {
            "metrics": self.metrics,
            "tracing": self.tracing,
            "idempotency": self.idempotency,
            "observability": self,
        }

    async def close(self) -> None:
        await self.metrics.close()
        if self.tracing is not None:
            self.tracing.shutdown()


def _traced(settings: Settings, gateway: Gateway) -> Tracing:
    from oneflow_ai.observability import tracing
    from oneflow_ai.observability.attempt_spans import AttemptSpans, TracedAuth, TracedTransport

    t = tracing.Tracing(tracing.span_processor(settings))
    gateway.observe(AttemptSpans(t))
    gateway.record_behind = False
    gateway.auth = TracedAuth(gateway.auth, t)
    gateway.transports = {wire: TracedTransport(transport, t) for wire, transport in gateway.transports.items()}
    return t
