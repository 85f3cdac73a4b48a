"""Routing, as JSON for people: routing decisions, estimates, and each deployment's health and breaker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oneflow_ai.config.schema import ModelGroup
from oneflow_ai.pricing import Cost, PricingEngine, UnknownModelPrice, decimal_str
from oneflow_ai.providers.base import Usage
from oneflow_ai.routing import Breaker, BreakerPolicy, DeploymentHealth
from oneflow_ai.routing.breaker import CLOSED, counts
from oneflow_ai.routing.health import UNKNOWN
from oneflow_ai.routing.intelligent import RoutingDecision


def money(amount: Decimal | None) -> str | None:
    """Exact amounts as decimal strings, so no JSON float ever carries money."""
    return None if amount is None else decimal_str(amount)


def decision_json(d: RoutingDecision, input_tokens: int, output_tokens: int, modality: str) -> dict[str, Any]:
    return {
        "primary_model": d.primary_model,
        "provider": d.provider,
        "estimated_cost_usd": money(d.estimated_cost_usd),
        "estimated_credits": money(d.estimated_credits),
        "fallback_chain": list(d.fallback_chain),
        "strategy": d.strategy.value,
        "reason": d.reason,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "modality": modality,
    }


def health_report(
    groups: Iterable[ModelGroup],
    health: Mapping[str, DeploymentHealth],
    breakers: Mapping[str, Breaker],
    policy: BreakerPolicy,
    mono_now: float,
    wall_now: float,
) -> list[dict[str, Any]]:
    """One entry per configured deployment. Monotonic times become ISO timestamps and ages in seconds."""
    out: list[dict[str, Any]] = []
    for group in groups:
        for d in group.deployments:
            h, b = health.get(d.id, UNKNOWN), breakers.get(d.id, CLOSED)
            ok, failed = counts(b.window)
            out.append(
                {
                    "id": d.id,
                    "model": group.name,
                    "upstream_model": d.model,
                    "provider": d.provider,
                    "state": b.state.value,
                    "opened_at": _iso(b.opened_at, mono_now, wall_now),
                    "open_for_s": None if b.opened_at is None else round(mono_now - b.opened_at, 3),
                    "probe_in_flight": b.probe_in_flight,
                    "window": {"ok": ok, "failed": failed, "seconds": policy.window_s},
                    "consecutive_failures": b.streak,
                    "ewma_latency_ms": _ms(h.ewma_latency_s),
                    "ewma_ttft_ms": _ms(h.ewma_ttft_s),
                    "error_rate": round(h.error_rate, 4),
                    "in_flight": h.in_flight,
                    "samples": h.samples,
                }
            )
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _iso(mono: float | None, mono_now: float, wall_now: float) -> str | None:
    if mono is None:
        return None
    return datetime.fromtimestamp(wall_now - (mono_now - mono), UTC).isoformat(timespec="milliseconds")


def completion_json(pricing: PricingEngine, parsed: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    """A chat completion served for `POST /api/v1/request` (parsed: `JSONReply.json()`), reduced to its text,
    model, usage and cost."""
    choices = parsed.get("choices") or [{}]
    usage = Usage.from_openai(parsed.get("usage")) or Usage()
    model = headers.get("x-oneflow-model") or parsed.get("model")
    cost: Cost | None = None
    if model:
        try:
            cost = pricing.cost(model, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        except UnknownModelPrice:
            cost = None
    return {
        "text": (choices[0].get("message") or {}).get("content"),
        "model": model,
        "provider": headers.get("x-oneflow-provider"),
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "cost_usd": money(None if cost is None else cost.usd),
        "credits": money(None if cost is None else cost.credits),
        "attempts": int(headers.get("x-oneflow-attempts") or 1),
    }
