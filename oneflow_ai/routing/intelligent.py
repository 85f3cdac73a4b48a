"""Choosing a model for a request: `IntelligentRouter` ranks the models that can take it by a strategy.

    router = IntelligentRouter(PricingEngine())
    d = router.route(input_tokens=1500, output_tokens=500, strategy=RoutingStrategy.COST_OPTIMIZED)
    d.primary_model, d.estimated_credits, d.fallback_chain

A model *fits* when it serves the modality (text: chat models; embedding; image; audio: text-to-speech),
its context window holds the prompt plus the completion (and `max_output_tokens` the completion), and it
has tools or image input when the request needs them; an unknown limit never excludes. The fitting
models are ranked:

- `cost_optimized`: the cheapest estimate first (an unknown price counts as dearer than any known one);
- `quality_optimized`: the highest quality score first (the catalog's, or the deployment's `quality`);
- `latency_optimized`: the lowest latency first: the observed EWMA latency when `health` has a sample,
  else the prior `PRIOR_FIRST_TOKEN_S + output_tokens / (PRIOR_MAX_TPS - PRIOR_TPS_PER_QUALITY * quality)`,
  i.e. bigger (higher-quality) models are assumed to generate more slowly (200 tokens/s at quality 0,
  50 at quality 1). The prior is a rough guess for a cold start, not a measurement;
- `balanced`: `balanced_scores` (0.4 cost, 0.3 latency, 0.3 quality, each normalised among the candidates).

Ties keep the models' own order. Pure: the router holds the price engine and the model profiles; `route`
takes the request's size and the observed health, and returns a value.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.pricing import PricingEngine, decimal_str
from oneflow_ai.routing.health import DeploymentHealth
from oneflow_ai.routing.profile import (
    MODES,
    Modality,
    ModelProfile,
    estimated_cost,
    fits_request,
    parse_modality,
    prior_latency_s,
    ranking_usd,
)
from oneflow_ai.routing.strategy import RoutingStrategy, balanced_scores


def parse_strategy(name: str | RoutingStrategy) -> RoutingStrategy:
    try:
        return RoutingStrategy(name)
    except ValueError:
        raise ValueError(f"unknown routing strategy {name!r}; known: {', '.join(RoutingStrategy)}") from None


@dataclass(frozen=True, slots=True)
class Option:
    """A model that fits the request, with this request's estimates."""

    profile: ModelProfile
    cost_usd: Decimal | None
    """For ranking; the decision prices its choice through `PricingEngine` (exact, or an error)."""
    latency_s: float
    latency_observed: bool


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    primary_model: str
    provider: str
    estimated_cost_usd: Decimal | None
    """None when the chosen model has no known price."""
    estimated_credits: Decimal | None
    fallback_chain: tuple[str, ...]
    strategy: RoutingStrategy
    reason: str


class IntelligentRouter:
    """Ranks `models` (catalog names or profiles; by default every model in the price catalog except
    the built-in `demo` ones, which are free and would win every cost comparison)."""

    def __init__(
        self, pricing: PricingEngine, models: Iterable[str | ModelProfile] | None = None, *, max_fallbacks: int = 3
    ) -> None:
        self.pricing = pricing
        self.max_fallbacks = max_fallbacks
        if models is None:
            self.profiles = tuple(ModelProfile.of(p) for p in pricing.catalog.models() if p.provider != "demo")
        else:
            self.profiles = tuple(
                m if isinstance(m, ModelProfile) else ModelProfile.of(pricing.price(m), m) for m in models
            )

    def route(
        self,
        input_tokens: int,
        output_tokens: int = 0,
        strategy: str | RoutingStrategy = RoutingStrategy.BALANCED,
        modality: str | Modality = Modality.TEXT,
        *,
        needs_tools: bool = False,
        needs_vision: bool = False,
        health: Mapping[str, DeploymentHealth] | None = None,
        allowed: Collection[str] | None = None,
    ) -> RoutingDecision:
        """The best model for the request and the next `max_fallbacks` as its fallbacks; `health` is keyed by
        model name, `allowed` (when given) the only model names to consider.
        Raises `InvalidRequest` (code `no_model_fits`) when no model fits."""
        how = parse_strategy(strategy)
        ranked = self.rank(
            input_tokens,
            output_tokens,
            how,
            modality,
            needs_tools=needs_tools,
            needs_vision=needs_vision,
            health=health,
            allowed=allowed,
        )
        if not ranked:
            raise InvalidRequest(
                f"No model fits a {modality} request of {input_tokens} + {output_tokens} tokens"
                + (" with tools" if needs_tools else "")
                + (" with image input" if needs_vision else "")
                + ".",
                code="no_model_fits",
            )
        best = ranked[0]
        cost = estimated_cost(
            self.pricing, best.profile.priced_as, parse_modality(modality), input_tokens, output_tokens
        )
        return RoutingDecision(
            primary_model=best.profile.name,
            provider=best.profile.provider,
            estimated_cost_usd=None if cost is None else cost.usd,
            estimated_credits=None if cost is None else cost.credits,
            fallback_chain=tuple(o.profile.name for o in ranked[1 : 1 + self.max_fallbacks]),
            strategy=how,
            reason=_reason(how, ranked, parse_modality(modality), input_tokens + output_tokens),
        )

    def rank(
        self,
        input_tokens: int,
        output_tokens: int,
        strategy: str | RoutingStrategy,
        modality: str | Modality = Modality.TEXT,
        *,
        needs_tools: bool = False,
        needs_vision: bool = False,
        health: Mapping[str, DeploymentHealth] | None = None,
        allowed: Collection[str] | None = None,
    ) -> list[Option]:
        """Every model that fits, best first."""
        for label, n in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if type(n) is not int or n < 0:
                raise ValueError(f"{label} must be a whole number >= 0, got {n!r}")
        kind = parse_modality(modality)
        options = [
            self._option(p, kind, input_tokens, output_tokens, health or {})
            for p in self.profiles
            if (allowed is None or p.name in allowed)
            and p.mode == MODES[kind]
            and fits_request(p, kind, input_tokens, output_tokens, needs_tools, needs_vision)
        ]
        return rank(options, parse_strategy(strategy))

    def _option(
        self,
        p: ModelProfile,
        kind: Modality,
        input_tokens: int,
        output_tokens: int,
        health: Mapping[str, DeploymentHealth],
    ) -> Option:
        cost = ranking_usd(self.pricing, p.priced_as, kind, input_tokens, output_tokens)
        observed = health.get(p.name)
        latency = observed.ewma_latency_s if observed is not None else None
        if latency is None:
            return Option(p, cost, prior_latency_s(p, output_tokens), False)
        return Option(p, cost, latency, True)


def rank(options: Sequence[Option], how: RoutingStrategy) -> list[Option]:
    """`options` best first by `how`; ties keep the given order."""
    if not options:
        return []
    costs = _usd(options)
    indexed = list(zip(costs, options, strict=True))
    if how is RoutingStrategy.COST_OPTIMIZED:
        return [o for _, o in sorted(indexed, key=lambda p: (p[0], -p[1].profile.quality))]
    if how is RoutingStrategy.QUALITY_OPTIMIZED:
        return [o for _, o in sorted(indexed, key=lambda p: (-p[1].profile.quality, p[0]))]
    if how is RoutingStrategy.LATENCY_OPTIMIZED:
        return [o for _, o in sorted(indexed, key=lambda p: (p[1].latency_s, p[0]))]
    scores = balanced_scores(costs, [o.latency_s for o in options], [o.profile.quality for o in options])
    return [o for _, o in sorted(zip(scores, options, strict=True), key=lambda p: -p[0])]


def _usd(options: Sequence[Option]) -> list[Decimal]:
    """Each option's estimated dollars; an unknown price counts as a cent dearer than the dearest known."""
    known = [o.cost_usd for o in options if o.cost_usd is not None]
    unknown = max(known, default=Decimal(0)) + Decimal("0.01")
    return [unknown if o.cost_usd is None else o.cost_usd for o in options]


def _reason(how: RoutingStrategy, ranked: Sequence[Option], kind: Modality, tokens: int) -> str:
    best, n = ranked[0], len(ranked)
    among = f"of {n} {kind} model{'s' if n != 1 else ''}"
    if kind in (Modality.TEXT, Modality.EMBEDDING):
        among += f" that fit {tokens} tokens"
    if how is RoutingStrategy.COST_OPTIMIZED:
        price = "unknown price" if best.cost_usd is None else f"${decimal_str(best.cost_usd)} estimated"
        return f"cheapest {among} ({price})"
    if how is RoutingStrategy.QUALITY_OPTIMIZED:
        return f"highest quality score ({best.profile.quality:g}) {among}"
    if how is RoutingStrategy.LATENCY_OPTIMIZED:
        seen = "observed" if best.latency_observed else "expected (prior)"
        return f"lowest {seen} latency ({best.latency_s * 1000:.0f} ms) {among}"
    return f"best balance of cost, latency and quality {among}"
