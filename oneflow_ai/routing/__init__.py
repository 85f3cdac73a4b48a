"""The routing core: health, circuit breakers, strategies, plans and backoff. Pure values and functions.

The only mutable objects are the two boards (`HealthBoard`, `BreakerBoard`), which the gateway's
runtime owns; everything else takes values, including `now`, and returns values.
"""

from oneflow_ai.routing.breaker import (
    Breaker,
    BreakerBoard,
    BreakerPolicy,
    BreakerState,
    BreakerStore,
    admit,
    allow,
    on_failure,
    on_success,
    record,
)
from oneflow_ai.routing.health import (
    DeploymentHealth,
    HealthBoard,
    finished,
    record_failure,
    record_success,
    started,
)
from oneflow_ai.routing.planner import CostEstimate, Limits, ModelLimits, fits, plan, plan_chain
from oneflow_ai.routing.retry import backoff_delay, next_delay
from oneflow_ai.routing.strategy import LoadBalancing, Ordering, RoutingStrategy, balanced_scores, ordering

__all__ = [
    "Breaker",
    "BreakerBoard",
    "BreakerPolicy",
    "BreakerState",
    "BreakerStore",
    "CostEstimate",
    "DeploymentHealth",
    "HealthBoard",
    "Limits",
    "LoadBalancing",
    "ModelLimits",
    "Ordering",
    "RoutingStrategy",
    "admit",
    "allow",
    "backoff_delay",
    "balanced_scores",
    "finished",
    "fits",
    "next_delay",
    "on_failure",
    "on_success",
    "ordering",
    "plan",
    "plan_chain",
    "record",
    "record_failure",
    "record_success",
    "started",
]
