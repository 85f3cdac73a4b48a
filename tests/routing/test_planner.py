from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from oneflow_ai.config.schema import Deployment, ModelGroup
from oneflow_ai.routing.breaker import Breaker, BreakerPolicy, BreakerState
from oneflow_ai.routing.health import DeploymentHealth
from oneflow_ai.routing.planner import ModelLimits, fits, plan, plan_chain
from oneflow_ai.routing.strategy import LoadBalancing, Ordering, RoutingStrategy

POLICY = BreakerPolicy()
NOW = 1000.0
OPEN = Breaker(BreakerState.OPEN, opened_at=NOW - 1)
OPEN_DUE = Breaker(BreakerState.OPEN, opened_at=NOW - POLICY.cooldown_s)
PROBING = Breaker(BreakerState.HALF_OPEN, opened_at=NOW - 60, probe_started_at=NOW - 1)
ORDERINGS: list[Ordering] = [*RoutingStrategy, *LoadBalancing]


def dep(id: str, weight: float = 1.0, **kw: object) -> Deployment:
    return Deployment(provider="openai", model="m", id=id, weight=weight, **kw)


def ids(ds: list[Deployment]) -> list[str]:
    return [d.id for d in ds]


def simple_plan(
    candidates: list[Deployment],
    breakers: dict[str, Breaker] | None = None,
    how: Ordering = LoadBalancing.WEIGHTED,
    rand: float = 0.0,
) -> list[Deployment]:
    return plan(candidates, {}, breakers or {}, POLICY, how, NOW, rr_counter=0, rand=rand)


def test_refused_breakers_are_left_out_and_a_due_probe_is_kept() -> None:
    a, b, c, d = dep("a"), dep("b"), dep("c"), dep("d")
    breakers = {"a": OPEN, "b": PROBING, "c": OPEN_DUE}
    assert ids(simple_plan([a, b, c, d], breakers)) == ["c", "d"]


def test_nothing_allowed_gives_an_empty_plan() -> None:
    assert simple_plan([dep("a")], {"a": OPEN}) == []
    assert simple_plan([]) == []


def test_duplicates_are_planned_once() -> None:
    a = dep("a")
    assert ids(simple_plan([a, a, dep("b")])) == ["a", "b"]


def test_estimated_cost_as_mapping_or_function() -> None:
    a, b = dep("a"), dep("b")
    prices = {"a": Decimal("0.02"), "b": Decimal("0.01")}
    for cost in (prices, lambda d: prices[d.id]):
        how = RoutingStrategy.COST_OPTIMIZED
        got = plan([a, b], {}, {}, POLICY, how, NOW, estimated_cost=cost, rr_counter=0, rand=0)
        assert ids(got) == ["b", "a"]


def test_chain_is_primary_then_fallbacks_each_by_its_own_strategy() -> None:
    shared = dep("shared", 5)
    primary = ModelGroup(name="gpt", deployments=(dep("p1", 1), dep("p2", 9)), fallbacks=("cheap",))
    fallback = ModelGroup(
        name="cheap", deployments=(dep("f1", quality=0.1), shared, dep("f2", quality=0.9)), strategy="quality_optimized"
    )
    also = ModelGroup(name="also", deployments=(shared, dep("x")))
    got = plan_chain([primary, fallback, also], {}, {"p2": OPEN}, POLICY, NOW, rr_counter=0, rand=0.0)
    assert ids(got) == ["p1", "f2", "shared", "f1", "x"]


def test_chain_keep_drops_deployments_that_do_not_fit() -> None:
    small = ModelGroup(name="small", deployments=(dep("s", context_window=8000),))
    large = ModelGroup(name="large", deployments=(dep("l", context_window=128_000),))
    got = plan_chain([small, large], {}, {}, POLICY, NOW, rr_counter=0, rand=0.0, keep=lambda d: fits(d, 20_000))
    assert ids(got) == ["l"]


def test_fits() -> None:
    assert fits(dep("a"), 10**9)
    assert fits(dep("a", context_window=100), 100)
    assert not fits(dep("a", context_window=100), 101)
    assert fits(dep("a"), 10, needs_tools=True, needs_vision=True)
    assert not fits(ModelLimits(supports_tools=False), 10, needs_tools=True)
    assert not fits(ModelLimits(supports_vision=False), 10, needs_vision=True)
    assert fits(ModelLimits(context_window=50, supports_tools=True), 10, needs_tools=True)
    assert fits(ModelLimits(supports_vision=False), 10)


def test_weighted_first_picks_converge_to_the_weight_ratios() -> None:
    weights = {"a": 1.0, "b": 2.0, "c": 7.0}
    candidates = [dep(i, w) for i, w in weights.items()]
    n = 20_000
    firsts = {i: 0 for i in weights}
    for k in range(n):
        firsts[simple_plan(candidates, rand=(k + 0.5) / n)[0].id] += 1
    for i, w in weights.items():
        assert abs(firsts[i] / n - w / sum(weights.values())) < 0.02


# Property tests

weights_st = st.lists(st.floats(min_value=0.1, max_value=100), min_size=1, max_size=6)
breaker_st = st.sampled_from([Breaker(), OPEN, OPEN_DUE, PROBING])


Fleet = tuple[list[Deployment], dict[str, Breaker], dict[str, DeploymentHealth], dict[str, Decimal]]


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    n = draw(st.integers(min_value=1, max_value=7))
    names = [f"d{i}" for i in range(n)]
    candidates = [
        dep(
            name,
            draw(st.floats(min_value=0.1, max_value=10)),
            quality=draw(st.none() | st.floats(min_value=0, max_value=1)),
        )
        for name in names
    ]
    candidates += draw(st.lists(st.sampled_from(candidates), max_size=3))  # duplicates
    breakers = {name: draw(breaker_st) for name in names}
    health = {
        name: DeploymentHealth(
            ewma_latency_s=draw(st.none() | st.floats(min_value=0, max_value=30)),
            in_flight=draw(st.integers(min_value=0, max_value=20)),
        )
        for name in names
    }
    costs = {name: draw(st.decimals(min_value=0, max_value=1, places=6)) for name in names}
    return candidates, breakers, health, costs


@given(
    fleets(),
    st.sampled_from(ORDERINGS),
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_plan_properties(
    fleet: Fleet,
    how: Ordering,
    rr: int,
    rand: float,
) -> None:
    candidates, breakers, health, costs = fleet
    got = plan(candidates, health, breakers, POLICY, how, NOW, estimated_cost=costs, rr_counter=rr, rand=rand)
    got_ids = ids(got)
    # no deployment twice
    assert len(got_ids) == len(set(got_ids))
    # exactly the deployments whose breaker allows a request
    allowed = {d.id for d in candidates if breakers[d.id] not in (OPEN, PROBING)}
    assert set(got_ids) == allowed
    # an open circuit is never planned while a closed one can serve
    assert not any(breakers[i] in (OPEN, PROBING) for i in got_ids)
    # deterministic
    assert got == plan(candidates, health, breakers, POLICY, how, NOW, estimated_cost=costs, rr_counter=rr, rand=rand)
    if got and how is RoutingStrategy.COST_OPTIMIZED:
        assert costs[got_ids[0]] == min(costs[i] for i in allowed)


@settings(max_examples=25, deadline=None)
@given(weights_st)
def test_weighted_first_pick_frequency_matches_weights(weights: list[float]) -> None:
    candidates = [dep(f"d{i}", w) for i, w in enumerate(weights)]
    n = 2_000
    firsts = [0] * len(weights)
    for k in range(n):
        firsts[int(simple_plan(candidates, rand=(k + 0.5) / n)[0].id[1:])] += 1
    total = sum(weights)
    for count, w in zip(firsts, weights, strict=True):
        assert abs(count / n - w / total) < 0.02
