"""LiteLLM's `router_settings`, `litellm_settings` and `general_settings` as native settings.

`router_settings` wins where both it and `litellm_settings` set one thing (retries, timeout, fallbacks), as in
LiteLLM's proxy, where the router's own arguments override the module's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oneflow_ai.config.litellm.notes import Notes, TranslationError, Where, env_value, secret_reference

STRATEGIES = {
    "simple-shuffle": "weighted",
    "least-busy": "least_busy",
    "latency-based-routing": "least_latency",
    "cost-based-routing": "cost_optimized",
}
REDIS = ("redis_host", "redis_port", "redis_password", "redis_url")


def apply_settings(data: dict[str, Any], native: dict[str, Any], notes: Notes, environ: Mapping[str, str]) -> None:
    """Translate the three settings sections into `native` (whose `models` are already translated)."""
    groups = {g["name"]: g for g in native["models"]}
    routing: dict[str, Any] = {}
    for section in ("litellm_settings", "router_settings"):  # the router's last: it wins
        values = data.get(section) or {}
        if not isinstance(values, dict):
            raise TranslationError((section,), f"{section} is a mapping")
        for key, value in values.items():
            _setting(section, key, value, routing, groups, native, notes, environ)
    if routing:
        native["routing"] = routing
    general = data.get("general_settings") or {}
    if not isinstance(general, dict):
        raise TranslationError(("general_settings",), "general_settings is a mapping")
    for key, value in general.items():
        where: Where = ("general_settings", key)
        if key == "master_key":
            native["master_key"] = secret_reference(value, where)
            notes.sources[("master_key",)] = where
        elif key == "database_url":
            notes.drop(where, "set DATABASE_URL in the environment instead: ignored")
        else:
            notes.drop(where, "no equivalent in OneFlow: ignored")


def _setting(
    section: str,
    key: str,
    value: Any,
    routing: dict[str, Any],
    groups: dict[str, dict[str, Any]],
    native: dict[str, Any],
    notes: Notes,
    environ: Mapping[str, str],
) -> None:
    where: Where = (section, key)
    value = env_value(value, where, environ)
    if key == "drop_params" and value is True:
        return  # what OneFlow always does: a provider's translation drops the parameters it does not take
    if key == "num_retries" and isinstance(value, int) and value >= 0:
        routing["max_attempts"] = min(value + 1, 20)
        notes.sources[("routing", "max_attempts")] = where
    elif key in ("timeout", "request_timeout") and isinstance(value, int | float) and value > 0:
        routing["deadline_s"] = value
        notes.sources[("routing", "deadline_s")] = where
    elif key == "routing_strategy" and value in STRATEGIES:
        routing["strategy"] = STRATEGIES[value]
    elif key == "allowed_fails" and isinstance(value, int) and value > 0:
        routing.setdefault("breaker", {})["consecutive_failures"] = value
    elif key == "cooldown_time" and isinstance(value, int | float) and value > 0:
        routing.setdefault("breaker", {})["cooldown_s"] = value
    elif key == "retry_after" and isinstance(value, int | float) and value >= 0:
        routing["backoff_base_s"] = value
    elif key == "fallbacks":
        _fallbacks(value, where, groups, notes)
    elif key == "default_fallbacks" and isinstance(value, list):
        for name, group in groups.items():
            group.setdefault("fallbacks", [f for f in value if f != name])
    elif key == "model_group_alias" and isinstance(value, dict):
        _aliases(value, where, groups, notes)
    elif key == "cache" and section == "litellm_settings":
        if value:
            native["cache"] = {"mode": "exact", **native.get("cache", {})}
    elif key == "cache_params" and isinstance(value, dict):
        _cache_params(value, where, native, notes)
    elif key in REDIS:
        notes.drop(where, "set REDIS_URL in the environment instead: ignored")
    elif key == "routing_strategy":
        notes.drop(where, f"strategy {value!r} has no equivalent: OneFlow's default (weighted) is used")
    else:
        notes.drop(where, "no equivalent in OneFlow: ignored")


def _fallbacks(value: Any, where: Where, groups: dict[str, dict[str, Any]], notes: Notes) -> None:
    if not isinstance(value, list):
        raise TranslationError(where, "fallbacks is a list of {model: [fallback, ...]}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise TranslationError((*where, i), "a fallback is {model: [fallback, ...]}")
        for name, targets in item.items():
            if name not in groups:
                notes.drop((*where, i, name), f"fallbacks of unknown model {name!r}: ignored")
                continue
            targets = [targets] if isinstance(targets, str) else list(targets)
            groups[name]["fallbacks"] = targets
            notes.sources[("models", list(groups).index(name), "fallbacks")] = (*where, i, name)


def _aliases(value: dict[str, Any], where: Where, groups: dict[str, dict[str, Any]], notes: Notes) -> None:
    for alias, target in value.items():
        name = target.get("model") if isinstance(target, dict) else target
        if name not in groups:
            notes.drop((*where, alias), f"alias of unknown model {name!r}: ignored")
            continue
        groups[name].setdefault("aliases", []).append(alias)


def _cache_params(value: dict[str, Any], where: Where, native: dict[str, Any], notes: Notes) -> None:
    cache = native.setdefault("cache", {"mode": "exact"})
    for key, item in value.items():
        if key == "ttl":
            cache["ttl_s"] = int(item)
        elif key == "type" and item in ("local", "redis"):
            continue  # in process, or Redis when REDIS_URL is set: OneFlow's choice follows REDIS_URL
        elif key in ("host", "port", "password"):
            notes.drop((*where, key), "set REDIS_URL in the environment instead: ignored")
        else:
            notes.drop((*where, key), "no equivalent in OneFlow's cache: ignored")
