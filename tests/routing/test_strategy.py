from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.config.schema import Deployment
from oneflow_ai.routing.health import DeploymentHealth
from oneflow_ai.routing.strategy import (
    LoadBalancing,
    RoutingStrategy,
    balanced_scores,
    order,
    ordering,
)


def dep(id: str, weight: float = 1.0, quality: float | None = None) -> Deployment:
    return Deployment(provider="openai", model="m", id=id, weight=weight, quality=quality)


def ids(ds: list[Deployment]) -> list[str]:
    return [d.id for d in ds]


def no_cost(d: Deployment) -> Decimal | None:
    return None


A, B, C = dep("a", 1), dep("b", 3), dep("c", 2)


def test_ordering_names() -> None:
    assert ordering(None) is LoadBalancing.WEIGHTED
    assert ordering(None, RoutingStrategy.BALANCED) is RoutingStrategy.BALANCED
    assert ordering("cost_optimized") is RoutingStrategy.COST_OPTIMIZED
    assert ordering("least_busy") is LoadBalancing.LEAST_BUSY
    with pytest.raises(ValueError, match="unknown routing strategy 'fastest'"):
        ordering("fastest")


def test_round_robin_rotates() -> None:
    assert [ids(order([A, B, C], LoadBalancing.ROUND_ROBIN, {}, no_cost, rr_counter=n, rand=0)) for n in (0, 1, 5)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
    ]


def test_weighted_first_pick_by_rand_then_heaviest_first() -> None:
    assert ids(order([A, B, C], LoadBalancing.WEIGHTED, {}, no_cost, rr_counter=0, rand=0.0)) == ["a", "b", "c"]
    assert ids(order([A, B, C], LoadBalancing.WEIGHTED, {}, no_cost, rr_counter=0, rand=0.5)) == ["b", "c", "a"]
    assert ids(order([A, B, C], LoadBalancing.WEIGHTED, {}, no_cost, rr_counter=0, rand=0.99)) == ["c", "b", "a"]


def test_least_latency_tries_unknown_first_and_rotates_ties() -> None:
    health = {"a": DeploymentHealth(ewma_latency_s=2.0), "b": DeploymentHealth(ewma_latency_s=1.0)}
    for how in (LoadBalancing.LEAST_LATENCY, RoutingStrategy.LATENCY_OPTIMIZED):
        assert ids(order([A, B, C], how, health, no_cost, rr_counter=0, rand=0)) == ["c", "b", "a"]
    tied = [ids(order([A, B], LoadBalancing.LEAST_LATENCY, {}, no_cost, rr_counter=n, rand=0))[0] for n in (0, 1)]
    assert tied == ["a", "b"]


def test_least_busy() -> None:
    health = {i: DeploymentHealth(in_flight=n) for i, n in (("a", 3), ("b", 1), ("c", 2))}
    assert ids(order([A, B, C], LoadBalancing.LEAST_BUSY, health, no_cost, rr_counter=0, rand=0)) == ["b", "c", "a"]


def test_quality_descending_with_missing_as_half() -> None:
    good, bad, unknown = dep("g", quality=0.9), dep("b", quality=0.1), dep("u")
    got = order([bad, unknown, good], RoutingStrategy.QUALITY_OPTIMIZED, {}, no_cost, rr_counter=0, rand=0)
    assert ids(got) == ["g", "u", "b"]


def test_cost_ties_go_to_the_heavier_and_unknown_costs_count_as_dearest() -> None:
    prices = {"a": Decimal("0.001"), "b": Decimal("0.002"), "c": Decimal("0.001")}
    got = order([A, B, C], RoutingStrategy.COST_OPTIMIZED, {}, lambda d: prices[d.id], rr_counter=0, rand=0)
    assert ids(got) == ["c", "a", "b"]
    partial = {"a": Decimal("0.5")}
    got = order([B, A], RoutingStrategy.COST_OPTIMIZED, {}, lambda d: partial.get(d.id), rr_counter=0, rand=0)
    assert ids(got) == ["b", "a"]  # b unknown = as dear as a; tie broken by weight


def test_balanced_score_weights() -> None:
    # cheapest, slowest, worst vs dearest, fastest, best
    assert balanced_scores([Decimal(1), Decimal(2)], [3.0, 1.0], [0.2, 0.9]) == pytest.approx([0.4, 0.6])
    assert balanced_scores([Decimal(1)] * 2, [1.0] * 2, [0.5] * 2) == [0.7, 0.7]
    assert balanced_scores([], [], []) == []


def test_balanced_orders_by_score() -> None:
    cheap, fast = dep("cheap"), dep("fast", quality=0.9)
    health = {"cheap": DeploymentHealth(ewma_latency_s=3.0), "fast": DeploymentHealth(ewma_latency_s=1.0)}
    prices = {"cheap": Decimal(1), "fast": Decimal(2)}
    got = order([cheap, fast], RoutingStrategy.BALANCED, health, lambda d: prices[d.id], rr_counter=0, rand=0)
    assert ids(got) == ["fast", "cheap"]


@given(
    st.lists(st.decimals(min_value=0, max_value=100, places=6), min_size=1, max_size=8).flatmap(
        lambda costs: st.tuples(
            st.just(costs),
            st.lists(st.floats(0, 100), min_size=len(costs), max_size=len(costs)),
            st.lists(st.floats(0, 1), min_size=len(costs), max_size=len(costs)),
        )
    )
)
def test_balanced_scores_are_in_the_unit_interval(data: tuple[list[Decimal], list[float], list[float]]) -> None:
    for score in balanced_scores(*data):
        assert 0.0 <= score <= 1.0 + 1e-12
