"""What the app's lifespan starts for observability and the hardened edge, and closes at shutdown:
the metrics (and their observer), the request log, traces when enabled, the idempotency store.

Built before the gateway, for its parts: its `observers` (metrics, the request log, attempt spans), and with
tracing, the authenticator and transports wrapped in spans (`traced_auth`, `traced_transport`) and the record
written before the reply (`record_behind`). The ASGI middlewares (built once in `create_app`) find the rest in
the lifespan state of each request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oneflow_ai.api.idempotency_store import IdempotencyStore, MemoryIdempotencyStore, RedisIdempotencyStore
from oneflow_ai.auth.principal import Authenticator
from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.gateway.stages import Observer
from oneflow_ai.observability.llm_metrics import LLMMetrics
from oneflow_ai.observability.metrics import Metrics
from oneflow_ai.observability.request_log import RequestLog
from oneflow_ai.settings import Settings
from oneflow_ai.upstream.wire import Transport

if TYPE_CHECKING:  # the tracing module imports OpenTelemetry, an optional extra
    from redis.asyncio import Redis

    from oneflow_ai.observability.tracing import Tracing


class Observability:
    def __init__(self, settings: Settings, config: GatewayConfig, redis: Redis | None) -> None:
        self.settings = settings
        deployments = {d.id: d for g in config.models for d in g.deployments}
        self.metrics = Metrics(deployments, per_key=settings.metrics_per_key, worker_dir=settings.worker_metrics_dir)
        observers: list[Observer] = [LLMMetrics(self.metrics, deployments), RequestLog()]
        self.tracing: Tracing | None = None
        if settings.otel_enabled:
            from oneflow_ai.observability import tracing
            from oneflow_ai.observability.attempt_spans import AttemptSpans

            self.tracing = tracing.Tracing(tracing.span_processor(settings))
            observers.append(AttemptSpans(self.tracing))
        self.observers = tuple(observers)
        self.record_behind = self.tracing is None
        """Tracing needs the record before the reply: the attempt's span carries the usage before the request's
        span ends."""
        self.idempotency: IdempotencyStore = (
            RedisIdempotencyStore(redis, settings.idempotency_ttl_s)
            if redis is not None
            else MemoryIdempotencyStore(
                settings.idempotency_ttl_s,
                max_bytes=settings.idempotency_max_bytes,
                evicted=self.metrics.idempotency_evictions.inc,
            )
        )

    def traced_auth(self, auth: Authenticator) -> Authenticator:
        if self.tracing is None:
            return auth
        from oneflow_ai.observability.attempt_spans import TracedAuth

        return TracedAuth(auth, self.tracing)

    def traced_transport(self, transport: Transport) -> Transport:
        if self.tracing is None:
            return transport
        from oneflow_ai.observability.attempt_spans import TracedTransport

        return TracedTransport(transport, self.tracing)

    def start(self, gateway: Gateway) -> dict[str, Any]:
        """Start what runs in the background; returns what goes into the lifespan state."""
        self.metrics.start(gateway)
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
