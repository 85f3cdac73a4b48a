"""The gateway, built once with its stages in the order a call meets them: the one place that says which stage
runs when (`build_gateway`; `stages` is the order itself).

1. authenticate: the HTTP edge, before the pipeline (`api.openai_routes.authenticated`);
2. limit: model access, then rate limits, then budgets (admissions);
3. guard the input: further admissions (they may refuse), then the rewriters (redaction);
4. look up the cache: the responders (the first answer serves the call, no upstream is called);
5. plan the route and call the provider, with its fallbacks (`gateway.pipeline`);
6. guard the output: the reply inspectors, the stream inspectors (`gateway.stream_guard`);
7. price and record (`gateway.accounting`), heard by the observers: the routing's own first (breakers, health,
   `least_busy`), then the rate limits' and budgets' settlement, metrics, the request log and traces.

`create_app(stages=...)` adds an embedder's (or a test's) own stages at their place in this order. Nothing
changes the gateway's stages once it is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.billing.budgets import Budgets, build_budgets
from oneflow_ai.cache.build import response_cache
from oneflow_ai.cache.stage import ResponseCache
from oneflow_ai.config.schema import GatewayConfig, ModelGroup
from oneflow_ai.events.breakers import ObservedBreakers
from oneflow_ai.events.guardrails import GuardrailEvents
from oneflow_ai.events.service import Events
from oneflow_ai.gateway.balancer_claim import Claims
from oneflow_ai.gateway.pipeline import complete
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.gateway.stages import Observer, Stages
from oneflow_ai.guardrails.stages import guardrail_stages, guardrails_of
from oneflow_ai.identity.model_access import ModelAccess
from oneflow_ai.identity.rate_limits import RateLimits
from oneflow_ai.identity.service import Identity
from oneflow_ai.observability.runtime import Observability
from oneflow_ai.pricing import DeploymentPrices, PricingEngine, TokenCounter
from oneflow_ai.routing.breaker import BreakerBoard
from oneflow_ai.settings import Settings
from oneflow_ai.store.ledger import Ledger
from oneflow_ai.upstream.wire import Transport

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from oneflow_ai.gateway.shared_breakers import SharedBreakers


def build_gateway(
    settings: Settings,
    config: GatewayConfig,
    environ: Mapping[str, str],
    *,
    engine: AsyncEngine,
    ledger: Ledger,
    transport: Transport,
    httpx_transport: Transport | None = None,
    redis: Redis | None,
    pricing: PricingEngine,
    breakers: SharedBreakers | None,
    identity: Identity,
    observability: Observability,
    extra: Stages | None = None,
    events: Events | None = None,
) -> tuple[Gateway, Budgets]:
    """The gateway, and its budgets (whose lifecycle the caller runs). With `events`, the breakers' opening
    and closing are reported as events."""
    tokens = TokenCounter()
    estimates = estimator(config, tokens)
    models = config.by_name()
    built: list[Gateway] = []  # the budgets price at the gateway's current prices, which a catalog reload swaps

    def prices() -> DeploymentPrices:
        return built[0].prices

    budgets = build_budgets(
        engine,
        config.budgets,
        pricing,
        estimates,
        models,
        prices,
        redis,
        identity.batches,
        shared_view_s=settings.shared_view_s,
        fail_mode=identity.settings.fail_mode,
    )
    observers: Sequence[Observer] = observability.observers
    if events is not None:
        budgets.emit = events.emit
        observers = (*observers, GuardrailEvents(events.emit))
    decisions = observability.metrics.guardrail_decisions
    guards, last = guardrail_stages(guardrails_of(config, lambda *labels: decisions.labels(*labels).inc()), config)
    cache = response_cache(config, redis, observability.metrics, lambda call: complete(built[0], call))
    if cache is not None:
        extra = with_cache(extra or Stages(), cache)
    gateway = Gateway(
        config,
        observability.traced_auth(identity.auth),
        ledger,
        pricing,
        tokens,
        transport,
        environ,
        engine,
        redis,
        stages(models, identity.rate_limits(estimates), budgets, observers, extra, guards, last),
        estimates=estimates,
        breakers=ObservedBreakers(breakers or BreakerBoard(), events.emit) if events is not None else breakers,
        price_catalog=settings.price_catalog,
        record_behind=observability.record_behind,
        wrap_transport=observability.traced_transport,
        httpx_transport=httpx_transport,
        claims=Claims(identity.resp) if identity.resp is not None else None,
    )
    built.append(gateway)
    return gateway, budgets


def estimator(config: GatewayConfig, tokens: TokenCounter) -> TokenCounter:
    """What estimates a call's tokens before it is made: `tokens` (the tokenizer) if the config chose it
    (`tokens: {estimate: tokenizer}`), else a counter that estimates text without a tokenizer."""
    return tokens if config.tokens.estimate == "tokenizer" else TokenCounter(None)


def stages(
    models: Mapping[str, ModelGroup],
    rate_limits: RateLimits,
    budgets: Budgets,
    observers: Sequence[Observer],
    extra: Stages | None = None,
    guards: Stages | None = None,
    last: Stages | None = None,
) -> Stages:
    """The stages in their order (see the module's note); `extra`'s, each at its kind's place. `guards`: the
    guardrails' (`guardrails.stages`), input guards before `extra`'s and output guards first; `last`: the
    inspectors after every other (the guardrails' restoring of redacted values, after the response cache)."""
    extra = extra or Stages()
    guards = guards or Stages()
    last = last or Stages()
    return Stages(
        admissions=(ModelAccess(models), rate_limits, budgets, *guards.admissions, *extra.admissions),
        rewriters=(*guards.rewriters, *extra.rewriters),
        responders=extra.responders,
        reply_inspectors=(*guards.reply_inspectors, *extra.reply_inspectors, *last.reply_inspectors),
        stream_inspectors=(*guards.stream_inspectors, *extra.stream_inspectors, *last.stream_inspectors),
        observers=(rate_limits, budgets, *observers, *extra.observers),
    )


def with_cache(extra: Stages, cache: ResponseCache) -> Stages:
    """`extra` with the response cache last of each kind: it answers after any other responder, and sees each
    answer last, as it is sent (after the output guards), so it keeps what the caller got; it observes the
    records (an entry keeps the cost of the call that filled it)."""
    return replace(
        extra,
        responders=(*extra.responders, cache),
        reply_inspectors=(*extra.reply_inspectors, cache),
        stream_inspectors=(*extra.stream_inspectors, cache),
        observers=(*extra.observers, cache),
    )
