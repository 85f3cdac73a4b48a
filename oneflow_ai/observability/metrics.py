"""The Prometheus metrics: one `Metrics` per gateway, built and closed by the app's lifespan.

One process: the metric objects live in an instance-owned `CollectorRegistry`, which `/metrics` renders.
Several worker processes (`oneflow serve --workers N` sets `PROMETHEUS_MULTIPROC_DIR` before the workers
start): prometheus-client's multiprocess mode, where each worker writes its samples to files in that
directory and a scrape, answered by any worker, merges every worker's files.

Labels stay bounded: route templates (never raw paths), configured providers and models, a fixed set of
statuses; caller ids only when `ONEFLOW_METRICS_PER_KEY` is set. Gauges that mirror gateway state
(breakers, the ledger queue) are read at scrape time, and in multiprocess mode also every few seconds by
each worker, so the merged value covers the workers that did not answer the scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from oneflow_ai.routing.breaker import BreakerState

if TYPE_CHECKING:
    from oneflow_ai.gateway.runtime import Gateway
    from oneflow_ai.observability.http_metrics import RouteChildren

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BREAKER_VALUE = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}
SAMPLE_INTERVAL_S = 5.0


def multiprocess_dir() -> str | None:
    """prometheus-client decides this from the process environment, so we read the same place."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self, deployments: Iterable[str] = (), *, per_key: bool = False) -> None:
        """`deployments`: the ids whose breaker state is a gauge. The gauges read the gateway once it is started
        (`start`): the metrics are built before it, for its observers."""
        self.gateway: Gateway | None = None
        self.per_key = per_key
        self.multiprocess_dir = multiprocess_dir()
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
            multiprocess_mode="livemax",
        )
        self.ledger_depth = Gauge(
            "ledger_queue_depth", "Usage records waiting to be written.", registry=r, multiprocess_mode="livesum"
        )
        self.ledger_dead_letters = Counter(
            "ledger_dead_letter", "Usage records the database refused, set aside in ledger_dead_letters.", registry=r
        )
        self.ledger_writable = Gauge(
            "ledger_writable",
            "1 while the ledger writes, 0 after a failed write until one succeeds.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self._dead_letters_seen = 0
        self.http_children: dict[tuple[str, str], RouteChildren] = {}
        self._deployments = tuple(deployments)
        self._scraped = r
        if self.multiprocess_dir is not None:
            self._scraped = CollectorRegistry(auto_describe=False)
            multiprocess.MultiProcessCollector(self._scraped, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        self._sampler: asyncio.Task[None] | None = None

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
        return generate_latest(self._scraped), CONTENT_TYPE_LATEST

    def start(self, gateway: Gateway) -> None:
        self.gateway = gateway
        if self.multiprocess_dir is not None:
            self._sampler = asyncio.create_task(self._sample_every(SAMPLE_INTERVAL_S), name="oneflow-metrics")

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]

    async def _sample_every(self, interval_s: float) -> None:
        while True:
            self.sample()
            await asyncio.sleep(interval_s)
