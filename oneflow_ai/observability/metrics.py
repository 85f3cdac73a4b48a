"""The Prometheus metrics: one `Metrics` per gateway, built and closed by the app's lifespan.

The metric objects live in an instance-owned `CollectorRegistry`, which `/metrics` renders. Several worker
processes (`oneflow serve --workers N` names a directory in `ONEFLOW_WORKER_METRICS_DIR` before the workers
start): each still counts in its own registry, writes a snapshot of it to that directory every second, and
a scrape, answered by any worker, merges its live values with the others' snapshots (`worker_metrics`).

Labels stay bounded: route templates (never raw paths), configured providers and models, a fixed set of
statuses; caller ids only when `ONEFLOW_METRICS_PER_KEY` is set. Gauges that mirror gateway state
(breakers, the ledger queue) are read at scrape time, and with several workers also before each snapshot, so
the merged value covers the workers that did not answer the scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from oneflow_ai.observability.worker_metrics import SNAPSHOT_INTERVAL_S, GaugeMode, WorkerMetrics
from oneflow_ai.routing.breaker import BreakerState

if TYPE_CHECKING:
    from oneflow_ai.gateway.runtime import Gateway
    from oneflow_ai.observability.http_metrics import RouteChildren

log = logging.getLogger("oneflow.metrics")
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BREAKER_VALUE = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}
GAUGE_MODES: dict[str, GaugeMode] = {
    "circuit_breaker_state": "max",  # open in any worker: shown open
    "ledger_queue_depth": "sum",
    "ledger_writable": "min",  # unwritable in any worker: shown unwritable
}
"""How the workers' values of each gauge combine (`worker_metrics.merge`)."""


class Metrics:
    def __init__(
        self, deployments: Iterable[str] = (), *, per_key: bool = False, worker_dir: Path | None = None
    ) -> None:
        """`deployments`: the ids whose breaker state is a gauge. The gauges read the gateway once it is started
        (`start`): the metrics are built before it, for its observers. `worker_dir`: where the workers of one
        server share their snapshots (None: one process)."""
        self.gateway: Gateway | None = None
        self.per_key = per_key
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        key = ("key",) if per_key else ()
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template and status.",
            ("method", "route", "status"),
            registry=r,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Seconds from the request to the start of the response (for a stream: its first relayed chunk).",
            ("method", "route"),
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.llm_requests = Counter(
            "llm_requests",
            "Upstream attempts, by outcome ('ok' or the error code).",
            ("provider", "model", "status"),
            registry=r,
        )
        self.llm_duration = Histogram(
            "llm_request_duration_seconds",
            "Seconds a request served by this deployment took, stream included.",
            ("provider", "model"),
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.llm_ttft = Histogram(
            "llm_time_to_first_token_seconds",
            "Seconds from the request to the first streamed chunk.",
            ("provider", "model"),
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.llm_tokens = Counter(
            "llm_tokens", "Tokens, by type (input, output, cached).", ("provider", "model", "type", *key), registry=r
        )
        self.cost_credits = Counter("oneflow_cost_credits", "Credits charged.", ("provider", "model", *key), registry=r)
        self.cache_hits = Counter(
            "cache_hits", "Calls answered from the response cache, by kind (exact, semantic).", ("kind",), registry=r
        )
        self.cache_misses = Counter(
            "cache_misses",
            "Calls the response cache looked up and could not answer, by the lookup that missed (exact, semantic).",
            ("kind",),
            registry=r,
        )
        # bound once per kind (shown at 0 before the first lookup; `labels()` costs a lock per call)
        self._cache_hits = {kind: self.cache_hits.labels(kind) for kind in ("exact", "semantic")}
        self._cache_misses = {kind: self.cache_misses.labels(kind) for kind in ("exact", "semantic")}
        self.rate_limited = Counter("rate_limit_exceeded", "Requests refused by a rate limit.", registry=r)
        self.guardrail_decisions = Counter(
            "guardrail_decisions",
            "Guardrail decisions, once per call, policy and entity type, by the action taken.",
            ("policy", "action", "type"),
            registry=r,
        )
        self.budget_exceeded = Counter("budget_exceeded", "Requests refused by a budget or quota.", registry=r)
        self.idempotency_evictions = Counter(
            "idempotency_evictions",
            "Idempotent answers the in-memory store forgot before their TTL (ONEFLOW_IDEMPOTENCY_MAX_BYTES reached).",
            registry=r,
        )
        self.breaker_state = Gauge(
            "circuit_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            ("deployment",),
            registry=r,
        )
        self.ledger_depth = Gauge("ledger_queue_depth", "Usage records waiting to be written.", registry=r)
        self.ledger_dead_letters = Counter(
            "ledger_dead_letter", "Usage records the database refused, set aside in ledger_dead_letters.", registry=r
        )
        self.ledger_writable = Gauge(
            "ledger_writable",
            "1 while the ledger writes, 0 after a failed write until one succeeds.",
            registry=r,
        )
        self._dead_letters_seen = 0
        self.http_children: dict[tuple[str, str], RouteChildren] = {}
        self._deployments = tuple(deployments)
        self.shared = WorkerMetrics(r, worker_dir, GAUGE_MODES) if worker_dir is not None else None
        self._sharer: asyncio.Task[None] | None = None

    def cache_hit(self, kind: str) -> None:
        self._cache_hits[kind].inc()

    def cache_miss(self, kind: str) -> None:
        self._cache_misses[kind].inc()

    def sample(self) -> None:
        """Copy the gateway's current state into the gauges."""
        if self.gateway is None:
            return
        view = self.gateway.routing.breakers.view()
        for dep_id in self._deployments:
            breaker = view.get(dep_id)
            self.breaker_state.labels(dep_id).set(BREAKER_VALUE[breaker.state] if breaker else 0.0)
        ledger = self.gateway.ledger
        self.ledger_depth.set(ledger.depth)
        self.ledger_writable.set(0.0 if ledger.unwritable else 1.0)
        if ledger.dead_lettered > self._dead_letters_seen:
            self.ledger_dead_letters.inc(ledger.dead_lettered - self._dead_letters_seen)
            self._dead_letters_seen = ledger.dead_lettered

    def render(self) -> tuple[bytes, str]:
        """The exposition for a scrape: (body, content type)."""
        self.sample()
        return generate_latest(self.shared or self.registry), CONTENT_TYPE_LATEST

    def start(self, gateway: Gateway) -> None:
        self.gateway = gateway
        if self.shared is not None:
            self._sharer = asyncio.create_task(self._share_every(SNAPSHOT_INTERVAL_S), name="oneflow-metrics")

    async def close(self) -> None:
        if self._sharer is not None:
            self._sharer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sharer
        if self.shared is not None:  # the last counts stay for the other workers' scrapes (gauges are dropped)
            self.sample()
            with contextlib.suppress(OSError):
                self.shared.write(alive=False)

    async def _share_every(self, interval_s: float) -> None:
        assert self.shared is not None
        while True:
            self.sample()
            try:
                self.shared.write()
            except OSError as e:  # the other workers' scrapes show this one's last snapshot until a write succeeds
                log.warning("could not write this worker's metrics snapshot: %s", e)
            await asyncio.sleep(interval_s)
