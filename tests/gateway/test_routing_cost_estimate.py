"""`Routing`'s per-request cost estimate (looked-up per-token prices) equals the pricing engine's exact one."""

from __future__ import annotations

from oneflow_ai.auth.principal import MASTER
from oneflow_ai.config.schema import GatewayConfig, RoutingSettings
from oneflow_ai.gateway.call import chat_call, estimated_tokens
from oneflow_ai.gateway.routing import Routing
from oneflow_ai.pricing import PricingEngine, TokenCounter

MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "my-local-llama"]


def test_the_estimate_is_the_engines_and_cost_orders_the_plan() -> None:
    pricing, tokens = PricingEngine(), TokenCounter(None)  # the gateway's estimates
    group = {
        "name": "g",
        "strategy": "cost_optimized",
        "deployments": [{"provider": "openai", "model": m} for m in MODELS],
    }
    models = GatewayConfig.model_validate({"models": [group]}).by_name()
    routing = Routing(RoutingSettings(), models, pricing, tokens)
    call = chat_call(
        "r", MASTER, {"model": "g", "messages": [{"role": "user", "content": "x " * 300}], "max_tokens": 700}, None
    )
    estimate = routing._cost_estimator(call)
    prompt, completion = estimated_tokens(call, tokens)
    for d in models["g"].deployments:
        expected = pricing.estimate(d.model, prompt, completion).usd if d.model in pricing.catalog else None
        assert estimate(d) == expected
    planned = [d.model for d in routing.plan(call, models["g"])]
    assert planned == ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "my-local-llama"]
