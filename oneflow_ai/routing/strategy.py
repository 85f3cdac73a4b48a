"""How a model group orders its deployments: a routing strategy or a load-balancing rule.

`order` is pure: health is a mapping of values, the estimated cost a function, and the two sources of
variety a planner needs are passed in (`rr_counter` for round-robin, `rand` in [0, 1) for weighted), so
the same inputs always give the same order. Ties keep the candidates' own (configuration) order, except
for `least_latency` and `least_busy`, whose ties rotate with `rr_counter` so that equally good
deployments share the load instead of the first one taking all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from enum import StrEnum

from oneflow_ai.config.schema import Deployment
from oneflow_ai.routing.health import UNKNOWN, DeploymentHealth


class RoutingStrategy(StrEnum):
    COST_OPTIMIZED = "cost_optimized"
    LATENCY_OPTIMIZED = "latency_optimized"
    QUALITY_OPTIMIZED = "quality_optimized"
    BALANCED = "balanced"


class LoadBalancing(StrEnum):
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"
    LEAST_LATENCY = "least_latency"
    LEAST_BUSY = "least_busy"


Ordering = RoutingStrategy | LoadBalancing

DEFAULT_ORDERING: Ordering = LoadBalancing.WEIGHTED
DEFAULT_QUALITY = 0.5
"""The quality of a deployment whose configuration gives none."""

COST_WEIGHT, LATENCY_WEIGHT, QUALITY_WEIGHT = 0.4, 0.3, 0.3


def ordering(name: str | None, default: Ordering = DEFAULT_ORDERING) -> Ordering:
    """The ordering a group's `strategy` names; `default` when it names none. Unknown names raise ValueError."""
    if name is None:
        return default
    for kind in (RoutingStrategy, LoadBalancing):
        try:
            return kind(name)
        except ValueError:
            pass
    known = ", ".join([*RoutingStrategy, *LoadBalancing])
    raise ValueError(f"unknown routing strategy {name!r}; known: {known}")


def balanced_scores(costs: Sequence[Decimal], latencies: Sequence[float], qualities: Sequence[float]) -> list[float]:
    """One score per candidate, higher is better:

        score = 0.4 * (1 - cost_n) + 0.3 * (1 - latency_n) + 0.3 * quality_n

    where each `_n` is min-max normalised to [0, 1] among the candidates (0 when all are equal). Cost
    weighs most because it is the one measure known before the request; latency and quality share the rest.
    """
    cost_n = _normalised([float(c) for c in costs])
    latency_n = _normalised(list(latencies))
    quality_n = _normalised(list(qualities))
    return [
        COST_WEIGHT * (1 - c) + LATENCY_WEIGHT * (1 - lat) + QUALITY_WEIGHT * q
        for c, lat, q in zip(cost_n, latency_n, quality_n, strict=True)
    ]


def _normalised(values: list[float]) -> list[float]:
    if not values:
        return []
    low, high = min(values), max(values)
    span = high - low
    return [(v - low) / span if span > 0 else 0.0 for v in values]


def order(
    candidates: Sequence[Deployment],
    how: Ordering,
    health: Mapping[str, DeploymentHealth],
    cost: Callable[[Deployment], Decimal | None],
    *,
    rr_counter: int,
    rand: float,
) -> list[Deployment]:
    """`candidates` in the order to try them. An unknown cost (`None`) counts as the dearest known one."""
    if not candidates:
        return []
    if how is LoadBalancing.WEIGHTED:
        return _weighted(candidates, rand)
    if how is LoadBalancing.ROUND_ROBIN:
        return _rotated(candidates, rr_counter)
    if how in (LoadBalancing.LEAST_LATENCY, RoutingStrategy.LATENCY_OPTIMIZED):
        return sorted(_rotated(candidates, rr_counter), key=lambda d: _latency(health, d))
    if how is LoadBalancing.LEAST_BUSY:
        return sorted(_rotated(candidates, rr_counter), key=lambda d: health.get(d.id, UNKNOWN).in_flight)
    if how is RoutingStrategy.QUALITY_OPTIMIZED:
        return sorted(candidates, key=lambda d: (-_quality(d), -d.weight))
    costs = _costs(candidates, cost)
    if how is RoutingStrategy.COST_OPTIMIZED:
        ranked = sorted(zip(costs, candidates, strict=True), key=lambda p: (p[0], -p[1].weight))
        return [d for _, d in ranked]
    scores = balanced_scores(costs, [_latency(health, d) for d in candidates], [_quality(d) for d in candidates])
    ranked_b = sorted(zip(scores, candidates, strict=True), key=lambda p: (-p[0], -p[1].weight))
    return [d for _, d in ranked_b]


def _weighted(candidates: Sequence[Deployment], rand: float) -> list[Deployment]:
    """The first pick drawn by weight with `rand`; the rest heaviest first, as fallbacks."""
    point = rand * sum(d.weight for d in candidates)
    pick, reached = len(candidates) - 1, 0.0
    for i, d in enumerate(candidates):
        reached += d.weight
        if point < reached:
            pick = i
            break
    rest = sorted((d for i, d in enumerate(candidates) if i != pick), key=lambda d: -d.weight)
    return [candidates[pick], *rest]


def _rotated(candidates: Sequence[Deployment], counter: int) -> list[Deployment]:
    k = counter % len(candidates)
    return [*candidates[k:], *candidates[:k]]


def _latency(health: Mapping[str, DeploymentHealth], d: Deployment) -> float:
    latency = health.get(d.id, UNKNOWN).ewma_latency_s
    return 0.0 if latency is None else latency


def _quality(d: Deployment) -> float:
    return DEFAULT_QUALITY if d.quality is None else d.quality


def _costs(candidates: Sequence[Deployment], cost: Callable[[Deployment], Decimal | None]) -> list[Decimal]:
    known = [cost(d) for d in candidates]
    dearest = max((c for c in known if c is not None), default=Decimal(0))
    return [dearest if c is None else c for c in known]
