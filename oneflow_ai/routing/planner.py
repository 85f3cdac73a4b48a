"""The plan: which deployments to try for one request, in order. The gateway tries each in a loop.

Planning is pure. The caller reads the health and breaker tables once, passes `now`, a round-robin
counter and a random number, and gets a list; the same inputs always give the same plan. A deployment
whose breaker refuses is left out (an open breaker whose cooldown has passed is in: it is due a probe).
An empty plan means no deployment is healthy: the caller answers 503.

Because a plan is computed from a snapshot, the loop claims each deployment with `breaker.admit` just
before sending to it; a half-open deployment's single probe may meanwhile have gone to another request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from oneflow_ai.config.schema import Deployment, ModelGroup
from oneflow_ai.routing.breaker import CLOSED, Breaker, BreakerPolicy, allow
from oneflow_ai.routing.health import DeploymentHealth
from oneflow_ai.routing.strategy import DEFAULT_ORDERING, Ordering, order, ordering

CostEstimate = Callable[[Deployment], Decimal | None] | Mapping[str, Decimal] | None
"""A request's estimated cost on a deployment: a function, or a mapping by deployment id. Absent = unknown."""


def plan(
    candidates: Sequence[Deployment],
    health: Mapping[str, DeploymentHealth],
    breakers: Mapping[str, Breaker],
    policy: BreakerPolicy,
    how: Ordering,
    now: float,
    *,
    estimated_cost: CostEstimate = None,
    rr_counter: int,
    rand: float,
) -> list[Deployment]:
    """The candidates whose breaker allows a request, each once (by id), ordered by `how`."""
    seen: set[str] = set()
    allowed: list[Deployment] = []
    for d in candidates:
        if d.id in seen:
            continue
        seen.add(d.id)
        if allow(breakers.get(d.id, CLOSED), policy, now)[0]:
            allowed.append(d)
    return order(allowed, how, health, _cost_function(estimated_cost), rr_counter=rr_counter, rand=rand)


def plan_chain(
    groups: Sequence[ModelGroup],
    health: Mapping[str, DeploymentHealth],
    breakers: Mapping[str, Breaker],
    policy: BreakerPolicy,
    now: float,
    *,
    estimated_cost: CostEstimate = None,
    rr_counter: int,
    rand: float,
    keep: Callable[[Deployment], bool] | None = None,
    default: Ordering = DEFAULT_ORDERING,
) -> list[Deployment]:
    """The primary group's plan, then each fallback group's, a deployment never twice.

    `groups` is the primary group followed by its fallback groups, resolved by the caller. Each group is
    ordered by its own `strategy` (`default` when it names none). `keep`, when given, drops deployments
    that cannot serve the request at all (see `fits`), so that a fallback group can serve it instead.
    """
    seen: set[str] = set()
    chain: list[Deployment] = []
    for group in groups:
        candidates = [d for d in group.deployments if d.id not in seen and (keep is None or keep(d))]
        how = ordering(group.strategy, default)
        planned = plan(
            candidates,
            health,
            breakers,
            policy,
            how,
            now,
            estimated_cost=estimated_cost,
            rr_counter=rr_counter,
            rand=rand,
        )
        for d in planned:
            seen.add(d.id)
            chain.append(d)
    return chain


def _cost_function(estimated_cost: CostEstimate) -> Callable[[Deployment], Decimal | None]:
    if estimated_cost is None:
        return lambda d: None
    if isinstance(estimated_cost, Mapping):
        table = estimated_cost
        return lambda d: table.get(d.id)
    return estimated_cost


class Limits(Protocol):
    """What is known of a model's limits; `None` means unknown, and unknown never excludes."""

    @property
    def context_window(self) -> int | None: ...

    @property
    def supports_tools(self) -> bool | None: ...

    @property
    def supports_vision(self) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class ModelLimits:
    context_window: int | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None


def fits(
    subject: Deployment | Limits, estimated_tokens: int, *, needs_tools: bool = False, needs_vision: bool = False
) -> bool:
    """Can this deployment (or model) take a request of `estimated_tokens` (prompt plus the completion
    it asks for) that needs tools or image input? A deployment knows only its `context_window`."""
    if isinstance(subject, Deployment):
        window, tools, vision = subject.context_window, None, None
    else:
        window, tools, vision = subject.context_window, subject.supports_tools, subject.supports_vision
    if window is not None and estimated_tokens > window:
        return False
    if needs_tools and tools is False:
        return False
    return not (needs_vision and vision is False)
