"""`model: "auto"`: which configured group serves a call, and which become its fallbacks."""

from __future__ import annotations

from typing import Any

import pytest

from oneflow_ai.auth.principal import MASTER, Principal
from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.auto import AutoModel, has_image
from oneflow_ai.gateway.call import chat_call, embeddings_call
from oneflow_ai.pricing import PricingEngine, TokenCounter
from oneflow_ai.routing.health import DeploymentHealth

PRICING = PricingEngine()
TOKENS = TokenCounter(None)
"""As the gateway estimates a call's tokens by default: without a tokenizer."""
HI = [{"role": "user", "content": "hi"}]


def auto(*groups: dict[str, Any]) -> AutoModel:
    config = GatewayConfig.model_validate(
        {
            "models": [
                *groups,
                {"name": "demo", "deployments": [{"provider": "demo", "model": "demo"}]},
                {
                    "name": "embed",
                    "mode": "embedding",
                    "deployments": [{"provider": "openai", "model": "text-embedding-3-small"}],
                },
            ]
        }
    )
    return AutoModel(config.by_name(), PRICING)


def group(name: str, model: str, **deployment: Any) -> dict[str, Any]:
    return {"name": name, "deployments": [{"provider": "openai", "model": model, **deployment}]}


SMART, CHEAP, LOCAL = group("smart", "gpt-4o"), group("cheap", "gpt-4o-mini"), group("local", "llama", quality=0.9)


def test_strategies_pick_among_configured_groups_and_the_rest_become_fallbacks() -> None:
    a = auto(SMART, CHEAP, LOCAL)
    assert set(a.groups) == {"smart", "cheap", "local", "embed"}  # demo only when nothing else is configured
    call = chat_call("r", MASTER, {"model": "auto", "messages": HI, "fallbacks": ["mine"]}, None, "cost_optimized")
    assert a.choose(call, TOKENS, {}).name == "cheap" and call.model == "cheap"
    assert call.fallbacks == ("smart", "local", "mine")  # the unknown price of `local` ranks last
    quality = chat_call("r", MASTER, {"model": "auto", "messages": HI, "strategy": "quality_optimized"}, None)
    assert a.choose(quality, TOKENS, {}).name == "local"  # the deployment's own quality counts


def test_latency_uses_the_fastest_deployment_of_each_group() -> None:
    a = auto(SMART, CHEAP)
    health = {"smart/0": DeploymentHealth(ewma_latency_s=0.05), "cheap/0": DeploymentHealth(ewma_latency_s=0.4)}
    call = chat_call("r", MASTER, {"model": "auto", "messages": HI, "strategy": "latency_optimized"}, None)
    assert a.choose(call, TOKENS, health).name == "smart"


def test_the_request_must_fit() -> None:
    a = auto(group("small", "gpt-4o-mini", context_window=50), CHEAP)
    call = chat_call("r", MASTER, {"model": "auto", "messages": HI, "max_tokens": 100}, None, "cost_optimized")
    assert a.choose(call, TOKENS, {}).name == "cheap" and call.fallbacks == ()
    reasoner = {"name": "reasoner", "deployments": [{"provider": "deepseek", "model": "deepseek-reasoner"}]}
    tools = chat_call(
        "r", MASTER, {"model": "auto", "messages": HI, "tools": [{"type": "function"}]}, None, "cost_optimized"
    )
    assert auto(reasoner, SMART).choose(tools, TOKENS, {}).name == "smart" and tools.fallbacks == ()
    plain = chat_call("r", MASTER, {"model": "auto", "messages": HI}, None, "cost_optimized")
    assert auto(reasoner, SMART).choose(plain, TOKENS, {}).name == "reasoner"
    image = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "what is it"}, {"type": "image_url", "image_url": {"url": "data:,"}}],
        }
    ]
    assert has_image({"messages": image}) and not has_image({"messages": HI})
    with pytest.raises(InvalidRequest) as info:
        auto(group("blind", "gpt-3.5-turbo")).choose(
            chat_call("r", MASTER, {"model": "auto", "messages": image}, None), TOKENS, {}
        )
    assert info.value.code == "no_model_fits"


def test_embeddings_choose_among_embedding_groups() -> None:
    call = embeddings_call("r", MASTER, {"model": "auto", "input": "hello"}, None)
    assert auto(SMART).choose(call, TOKENS, {}).name == "embed"


def test_only_demo_configured_serves_demo() -> None:
    call = chat_call("r", MASTER, {"model": "auto", "messages": HI}, None)
    assert auto().choose(call, TOKENS, {}).name == "demo"


def test_a_load_balancing_strategy_leaves_the_model_choice_balanced() -> None:
    call = chat_call("r", MASTER, {"model": "auto", "messages": HI, "strategy": "round_robin"}, None)
    a = auto(SMART, CHEAP)
    assert a.choose(call, TOKENS, {}).name == a.decide(1, 256).primary_model


def test_the_callers_allowed_models_bound_the_choice() -> None:
    caller = Principal(key_id="k", allowed_models=frozenset({"smart"}))
    call = chat_call("r", caller, {"model": "auto", "messages": HI}, None, "cost_optimized")
    assert auto(SMART, CHEAP).choose(call, TOKENS, {}).name == "smart" and call.fallbacks == ()
