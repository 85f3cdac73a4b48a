"""The `Observer` behind the `llm_*` metrics, the cost counter and the refusal counters.

- each upstream attempt: `llm_requests_total{provider, model, status}`, status `ok` or the error's code
  (the error class's own code, a fixed set, never a string an upstream sent);
- each ledger record served by a deployment: its duration, time to first token (streams), tokens and cost;
- each refusal before any upstream call: `rate_limit_exceeded_total` or `budget_exceeded_total`.

`model` is the deployment's upstream model (from the configuration, so bounded). Label children are bound
on first use per deployment and kept.
"""

from __future__ import annotations

from typing import Any

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import GatewayError, QuotaExceeded, RateLimited
from oneflow_ai.gateway.call import Call
from oneflow_ai.gateway.stages import QuietObserver
from oneflow_ai.observability.metrics import Metrics
from oneflow_ai.store.ledger import UsageRecord

BUDGET_CODES = frozenset({"insufficient_quota", "budget_exceeded"})


class DeploymentChildren:
    __slots__ = ("cached", "cost", "duration", "input", "output", "ttft")

    def __init__(self, m: Metrics, provider: str, model: str, key: tuple[str, ...] = ()) -> None:
        self.duration = m.llm_duration.labels(provider, model)
        self.ttft = m.llm_ttft.labels(provider, model)
        self.input = m.llm_tokens.labels(provider, model, "input", *key)
        self.output = m.llm_tokens.labels(provider, model, "output", *key)
        self.cached = m.llm_tokens.labels(provider, model, "cached", *key)
        self.cost = m.cost_credits.labels(provider, model, *key)


class LLMMetrics(QuietObserver):
    def __init__(self, metrics: Metrics, deployments: dict[str, Deployment]) -> None:
        self.metrics = metrics
        self.deployments = deployments
        self._attempts: dict[tuple[str, str], Any] = {}
        self._served: dict[tuple[str, ...], DeploymentChildren] = {}

    def attempt_finished(
        self, call: Call, deployment: Deployment, error: GatewayError | None, latency_s: float, ttft_s: float | None
    ) -> None:
        status = "ok" if error is None else (type(error).code or "error")
        child = self._attempts.get((deployment.id, status))
        if child is None:
            child = self.metrics.llm_requests.labels(deployment.provider, deployment.model, status)
            self._attempts[(deployment.id, status)] = child
        child.inc()

    def recorded(self, call: Call, record: UsageRecord) -> None:
        dep = self.deployments.get(record.deployment_id) if record.deployment_id else None
        if dep is None:
            return
        key = (dep.id, record.key_id or "") if self.metrics.per_key else (dep.id,)
        c = self._served.get(key)
        if c is None:
            c = self._served[key] = DeploymentChildren(self.metrics, dep.provider, dep.model, key[1:])
        if record.latency_ms is not None:
            c.duration.observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            c.ttft.observe(record.ttft_ms / 1000)
        if record.input_tokens:
            c.input.inc(record.input_tokens)
        if record.output_tokens:
            c.output.inc(record.output_tokens)
        if record.cached_tokens:
            c.cached.inc(record.cached_tokens)
        if record.credits:
            c.cost.inc(float(record.credits))

    def rejected(self, call: Call, error: GatewayError) -> None:
        if isinstance(error, RateLimited):
            self.metrics.rate_limited.inc()
        elif isinstance(error, QuotaExceeded) or error.code in BUDGET_CODES:
            self.metrics.budget_exceeded.inc()
