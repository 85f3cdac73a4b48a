"""`model: "auto"`: the gateway picks the model for a request, ranked by `IntelligentRouter`.

The candidates are the configured model groups of the call's kind (chat groups for chat, embedding groups
for embeddings); the built-in `demo` groups only when nothing else of that kind is configured. A group is
described by its first deployment: the price catalog's prices, limits and quality for its upstream model,
with the deployment's own `context_window` and `quality` taking precedence. Groups that cannot take the
request are left out: the context window must hold the estimated tokens (`estimated_tokens`), and tools or
image input must be supported when the body has tools or a message has an image part. The best group is
served as if the client had named it (`call.model` becomes its name: model access, budgets, rate limits and
the ledger see the chosen model); the others, in rank order, become its fallbacks (after the group's own
configured ones, before the request's own `fallbacks`). Only models the caller's key may use are candidates.

The strategy is the request's (body `strategy` or header `x-oneflow-strategy`) when it names a routing
strategy, else `balanced`; a load-balancing name (`weighted`, ...) still orders deployments within groups.
A configuration that defines a model named `auto` keeps it: that group is served as configured.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from oneflow_ai.config.schema import ModelGroup
from oneflow_ai.gateway.call import Call, estimated_tokens
from oneflow_ai.pricing import PriceCatalog, PricingEngine, TokenCounter
from oneflow_ai.routing.health import DeploymentHealth
from oneflow_ai.routing.intelligent import IntelligentRouter, RoutingDecision, parse_strategy
from oneflow_ai.routing.profile import Modality, ModelProfile
from oneflow_ai.routing.strategy import RoutingStrategy

if TYPE_CHECKING:
    from oneflow_ai.gateway.runtime import Gateway

AUTO = "auto"
IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})
ROUTING_STRATEGIES = frozenset(RoutingStrategy)


class AutoModel:
    """Built once at start-up from the configured groups; `choose` and `decide` are pure given the health."""

    def __init__(self, models: Mapping[str, ModelGroup], pricing: PricingEngine) -> None:
        groups = list({g.name: g for g in models.values()}.values())  # aliases name the same group once
        candidates = [
            *_preferred(g for g in groups if g.mode == "chat"),
            *_preferred(g for g in groups if g.mode == "embedding"),
        ]
        self.groups = {g.name: g for g in candidates}
        profiles = [group_profile(g, pricing.catalog) for g in candidates]
        self.router = IntelligentRouter(pricing, profiles, max_fallbacks=len(profiles))

    def decide(
        self,
        input_tokens: int,
        output_tokens: int,
        strategy: str | RoutingStrategy = RoutingStrategy.BALANCED,
        modality: str | Modality = Modality.TEXT,
        *,
        needs_tools: bool = False,
        needs_vision: bool = False,
        health: Mapping[str, DeploymentHealth] | None = None,
        allowed: Collection[str] | None = None,
    ) -> RoutingDecision:
        """The group `auto` serves for a request of this size, and its fallbacks, best first. `health` is the
        gateway's per-deployment table (a group's latency is its fastest deployment's); `allowed`, the
        model names the caller may use (None: all)."""
        how = parse_strategy(strategy)
        by_group = self._group_health(health) if health and how is not RoutingStrategy.QUALITY_OPTIMIZED else None
        return self.router.route(
            input_tokens,
            output_tokens,
            how,
            modality,
            needs_tools=needs_tools,
            needs_vision=needs_vision,
            health=by_group,
            allowed=_names(allowed, self.groups),
        )

    def choose(self, call: Call, tokens: TokenCounter, health: Mapping[str, DeploymentHealth]) -> ModelGroup:
        """The group to serve `call` with. From here on the call is as if the client had named it (`call.model`
        becomes its name, so model access, budgets, rate limits and the ledger see a real model), and the
        runners-up are added to `call.fallbacks`."""
        tokens_in, tokens_out = estimated_tokens(call, tokens)
        how = call.strategy if call.strategy in ROUTING_STRATEGIES else RoutingStrategy.BALANCED
        kind = Modality.EMBEDDING if call.endpoint == "embeddings" else Modality.TEXT
        decision = self.decide(
            tokens_in,
            tokens_out,
            how or RoutingStrategy.BALANCED,
            kind,
            needs_tools=bool(call.body.get("tools")),
            needs_vision=has_image(call.body),
            health=health,
            allowed=call.principal.allowed_models,
        )
        call.model = decision.primary_model
        call.fallbacks = (*decision.fallback_chain, *call.fallbacks)
        return self.groups[decision.primary_model]

    def _group_health(self, health: Mapping[str, DeploymentHealth]) -> dict[str, DeploymentHealth]:
        out: dict[str, DeploymentHealth] = {}
        for name, group in self.groups.items():
            seen = [h.ewma_latency_s for d in group.deployments if (h := health.get(d.id)) and h.ewma_latency_s]
            if seen:
                out[name] = DeploymentHealth(ewma_latency_s=min(seen))
        return out


def resolve(gw: Gateway, call: Call) -> ModelGroup:
    """The model group a call names; for `auto`, the one `AutoModel` chooses; for a model an A/B experiment
    splits, its variant's (`experiments.registry`: nothing is looked up while no experiment runs)."""
    if call.model == AUTO and AUTO not in gw.models:
        return gw.auto.choose(call, gw.estimates, gw.routing.health.view())
    if gw.experiments.by_model and (group := gw.experiments.assign(call)) is not None:
        return group
    return gw.group(call.model)


def group_profile(group: ModelGroup, catalog: PriceCatalog) -> ModelProfile:
    """What routing knows of a group: its first deployment's catalog entry, with the deployment's overrides."""
    d = group.deployments[0]
    price = catalog.get(d.model)
    base = ModelProfile.of(price, group.name) if price is not None else ModelProfile(group.name, d.provider)
    return replace(
        base,
        provider=d.provider,
        mode=group.mode,
        context_window=d.context_window or base.context_window,
        quality=base.quality if d.quality is None else d.quality,
    )


def has_image(body: Mapping[str, Any]) -> bool:
    """Does any message carry an image part (OpenAI `image_url`, or the Anthropic/Responses spellings)?"""
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") in IMAGE_PARTS for p in content):
            return True
    return False


def _names(allowed: Collection[str] | None, groups: Mapping[str, ModelGroup]) -> set[str] | None:
    """The group names a caller may use, when its allowed models may name a group by an alias."""
    if allowed is None:
        return None
    return {name for name, g in groups.items() if name in allowed or any(a in allowed for a in g.aliases)}


def _preferred(groups: Iterable[ModelGroup]) -> list[ModelGroup]:
    """The groups, without the built-in demo ones unless there is nothing else."""
    groups = list(groups)
    real = [g for g in groups if any(d.provider != "demo" for d in g.deployments)]
    return real or groups
