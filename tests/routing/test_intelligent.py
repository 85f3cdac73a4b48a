from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oneflow_ai import IntelligentRouter, PricingEngine, RoutingStrategy
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.routing.health import DeploymentHealth
from oneflow_ai.routing.profile import ModelProfile, parse_modality, prior_latency_s
from oneflow_ai.routing.strategy import balanced_scores

PRICING = PricingEngine()
ROUTER = IntelligentRouter(PRICING)
CHAT = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-3-haiku"]


def test_the_documented_example() -> None:
    d = ROUTER.route(input_tokens=1500, output_tokens=500, strategy=RoutingStrategy.COST_OPTIMIZED, modality="text")
    assert d.estimated_cost_usd == PRICING.estimate(d.primary_model, 1500, 500).usd
    assert d.estimated_credits == d.estimated_cost_usd * 100
    assert len(d.fallback_chain) == 3 and d.primary_model not in d.fallback_chain
    assert d.strategy is RoutingStrategy.COST_OPTIMIZED and d.reason.startswith("cheapest of")


def test_cost_is_the_cheapest_estimate_among_the_given_models() -> None:
    d = IntelligentRouter(PRICING, CHAT).route(1500, 500, "cost_optimized")
    costs = {m: PRICING.estimate(m, 1500, 500).usd for m in CHAT}
    assert d.primary_model == min(costs, key=lambda m: costs[m]) == "gpt-4o-mini"
    assert list(d.fallback_chain) == sorted(set(CHAT) - {"gpt-4o-mini"}, key=lambda m: costs[m])


def test_quality_is_the_highest_score() -> None:
    d = IntelligentRouter(PRICING, CHAT).route(1500, 500, RoutingStrategy.QUALITY_OPTIMIZED)
    quality = {m: PRICING.price(m).quality for m in CHAT}
    assert d.primary_model == max(quality, key=lambda m: quality[m])


def test_latency_uses_observed_health_else_the_prior() -> None:
    router = IntelligentRouter(PRICING, CHAT)
    prior = router.route(100, 1000, "latency_optimized")
    by_prior = {p.name: prior_latency_s(p, 1000) for p in router.profiles}
    assert prior.primary_model == min(by_prior, key=lambda m: by_prior[m])
    assert "expected (prior)" in prior.reason
    health = {"gpt-4o": DeploymentHealth(ewma_latency_s=0.01)}
    observed = router.route(100, 1000, "latency_optimized", health=health)
    assert observed.primary_model == "gpt-4o" and "observed latency (10 ms)" in observed.reason


def test_balanced_reuses_balanced_scores() -> None:
    router = IntelligentRouter(PRICING, CHAT)
    d = router.route(1500, 500, "balanced")
    costs = [PRICING.estimate(m, 1500, 500).usd for m in CHAT]
    latencies = [prior_latency_s(p, 500) for p in router.profiles]
    scores = balanced_scores(costs, latencies, [p.quality for p in router.profiles])
    assert d.primary_model == CHAT[scores.index(max(scores))]


def test_context_window_and_max_output_must_fit() -> None:
    big = ROUTER.route(900_000, 1000, "cost_optimized")
    assert (PRICING.price(big.primary_model).context_window or 0) >= 901_000
    with pytest.raises(InvalidRequest) as info:
        IntelligentRouter(PRICING, ["gpt-4o"]).route(127_000, 2000, "cost_optimized")
    assert info.value.code == "no_model_fits"
    with pytest.raises(InvalidRequest):  # gpt-4o writes at most 16384 tokens
        IntelligentRouter(PRICING, ["gpt-4o"]).route(10, 20_000, "cost_optimized")


def test_tools_and_vision_exclude_models_without_them() -> None:
    router = IntelligentRouter(PRICING, max_fallbacks=100)
    vision = router.route(1000, 100, "cost_optimized", needs_vision=True)
    tools = router.route(1000, 100, "cost_optimized", needs_tools=True)
    assert all(PRICING.price(m).supports_vision for m in (vision.primary_model, *vision.fallback_chain))
    assert all(PRICING.price(m).supports_tools for m in (tools.primary_model, *tools.fallback_chain))
    everything = router.route(1000, 100, "cost_optimized")
    assert len(everything.fallback_chain) > len(vision.fallback_chain)


@pytest.mark.parametrize(
    "modality, mode", [("image", "image"), ("audio", "audio_speech"), ("embedding", "embedding"), ("chat", "chat")]
)
def test_modality_chooses_among_models_of_that_kind(modality: str, mode: str) -> None:
    d = ROUTER.route(1000, 0, "cost_optimized", modality)
    assert PRICING.price(d.primary_model).mode == mode
    assert all(PRICING.price(m).mode == mode for m in d.fallback_chain)
    assert d.estimated_cost_usd is not None and d.estimated_cost_usd > 0


def test_demo_is_not_a_catalog_candidate_but_can_be_named() -> None:
    assert all(p.provider != "demo" for p in ROUTER.profiles)
    assert IntelligentRouter(PRICING, ["demo"]).route(10, 10).primary_model == "demo"


def test_an_unknown_price_ranks_after_known_ones_for_cost() -> None:
    local = ModelProfile("my-llama", "vllm")
    router = IntelligentRouter(PRICING, [local, "gpt-4o"])
    d = router.route(100, 100, "cost_optimized")
    assert d.primary_model == "gpt-4o" and d.fallback_chain == ("my-llama",)
    alone = IntelligentRouter(PRICING, [local]).route(100, 100, "cost_optimized")
    assert alone.estimated_cost_usd is None and "unknown price" in alone.reason


def test_allowed_restricts_the_choice() -> None:
    d = IntelligentRouter(PRICING, CHAT).route(1500, 500, "cost_optimized", allowed={"gpt-4o", "claude-3-haiku"})
    assert {d.primary_model, *d.fallback_chain} == {"gpt-4o", "claude-3-haiku"}


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown routing strategy"):
        ROUTER.route(1, 1, "fastest")
    with pytest.raises(ValueError, match="unknown modality"):
        parse_modality("smell")
    with pytest.raises(ValueError, match="input_tokens"):
        ROUTER.route(-1, 1)
    with pytest.raises(KeyError):
        IntelligentRouter(PRICING, ["no-such-model"])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 300_000), st.integers(0, 8000))
def test_cost_optimized_never_picks_a_dearer_fitting_model(tokens_in: int, tokens_out: int) -> None:
    router = IntelligentRouter(PRICING, max_fallbacks=100)
    try:
        d = router.route(tokens_in, tokens_out, "cost_optimized")
    except InvalidRequest:
        return
    assert d.estimated_cost_usd is not None
    for name in d.fallback_chain:
        assert PRICING.estimate(name, tokens_in, tokens_out).usd >= d.estimated_cost_usd
    assert d.estimated_cost_usd >= Decimal(0)
