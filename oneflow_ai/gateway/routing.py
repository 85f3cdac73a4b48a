"""Routing for the pipeline: plans a request's deployments, claims each through its circuit breaker,
and keeps health and breaker state up to date as an `Observer` of every attempt.

The decisions are the pure functions in `oneflow_ai.routing`; this class owns their state (one per gateway).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from oneflow_ai.config.schema import Deployment, ModelGroup, RoutingSettings
from oneflow_ai.errors import ContextWindowExceeded, GatewayError, UpstreamRejected
from oneflow_ai.gateway.call import Call, estimated_tokens
from oneflow_ai.gateway.stages import QuietObserver
from oneflow_ai.pricing import DeploymentPrices, PricingEngine, TokenCounter
from oneflow_ai.routing import (
    BreakerBoard,
    BreakerPolicy,
    BreakerStore,
    HealthBoard,
    RoutingStrategy,
    admit,
    finished,
    next_delay,
    ordering,
    plan_chain,
    record,
    record_failure,
    record_success,
    started,
)

COST_AWARE = (RoutingStrategy.COST_OPTIMIZED, RoutingStrategy.BALANCED)


class Routing(QuietObserver):
    def __init__(
        self,
        settings: RoutingSettings,
        models: Mapping[str, ModelGroup],
        pricing: PricingEngine,
        tokens: TokenCounter,
        *,
        breakers: BreakerStore | None = None,
        prices: DeploymentPrices | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        self.pricing = pricing
        self.tokens = tokens
        b = settings.breaker
        self.policy = BreakerPolicy(
            b.failure_rate_threshold,
            b.min_requests,
            b.window_s,
            b.cooldown_s,
            consecutive_failures=b.consecutive_failures,
        )
        self.health = HealthBoard()
        self.local_breakers = BreakerBoard()
        self.breakers: BreakerStore = breakers or self.local_breakers
        self.default = ordering(settings.strategy)
        self.clock = clock
        self._rng = rng or random.Random()
        self._rr = itertools.count()
        self.prices = prices or DeploymentPrices(pricing.catalog, (d for g in models.values() for d in g.deployments))
        """Per deployment, its price (config override over catalog): built once, swapped on a catalog reload."""

    def plan(self, call: Call, group: ModelGroup) -> list[Deployment]:
        """The primary group's deployments, then its fallbacks' (config, then the request's own)."""
        names = [*group.fallbacks, *call.fallbacks]
        groups = [group, *(self.models[n] for n in names if n in self.models)]
        if call.strategy is not None:
            groups = [g.model_copy(update={"strategy": call.strategy}) for g in groups]
        cost_aware = any(ordering(g.strategy, self.default) in COST_AWARE for g in groups)
        cost = self._cost_estimator(call) if cost_aware else None
        return plan_chain(
            groups,
            self.health.view(),
            self.breakers.view(),
            self.policy,
            self.clock(),
            estimated_cost=cost,
            rr_counter=next(self._rr),
            rand=self._rng.random(),
            default=self.default,
        )

    def admit(self, deployment: Deployment) -> bool:
        return admit(self.breakers, deployment.id, self.policy, self.clock())

    def retry_delay(self, round_: int, error: GatewayError, remaining_s: float) -> float | None:
        """How long to wait before a deployment is tried again; None when the deadline does not allow it."""
        retry_after = getattr(error, "retry_after", None)
        return next_delay(
            round_,
            retry_after,
            remaining_s,
            rand=self._rng.random(),
            base_s=self.settings.backoff_base_s,
            cap_s=self.settings.backoff_cap_s,
        )

    def _cost_estimator(self, call: Call) -> Callable[[Deployment], Decimal | None]:
        """The call's estimated cost per deployment, for ordering: `PricingEngine.estimate`'s arithmetic on
        the deployments' per-token prices built at start-up (about 0.5 µs a deployment instead of 14)."""
        tokens_in, tokens_out = estimated_tokens(call, self.tokens)
        rates = self.prices.rates

        def cost(d: Deployment) -> Decimal | None:
            r = rates(d)
            return None if r is None else tokens_in * r[0] + tokens_out * r[1]

        return cost

    # Observer

    def attempt_started(self, call: Call, deployment: Deployment) -> None:
        self.health.update(deployment.id, started)

    def attempt_finished(
        self, call: Call, deployment: Deployment, error: GatewayError | None, latency_s: float, ttft_s: float | None
    ) -> None:
        now = self.clock()
        failed = error is not None and not isinstance(error, (UpstreamRejected, ContextWindowExceeded))
        if failed:
            self.health.update(deployment.id, lambda h: record_failure(finished(h), now))
        else:
            self.health.update(deployment.id, lambda h: record_success(finished(h), latency_s, ttft_s, now))
        record(self.breakers, deployment.id, not failed, self.policy, now)
