"""LiteLLM's `model_list` as native model groups: one group per `model_name`, one deployment per entry.

`litellm_params.model` is `<provider>/<model>`; the provider prefix maps to OneFlow's provider (`PROVIDERS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from oneflow_ai.config.litellm.notes import Notes, TranslationError, Where, env_value, secret_reference

PROVIDERS = {
    "openai": "openai",
    "custom_openai": "openai_compatible",
    "azure": "azure",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertex_ai": "vertex_ai",
    "bedrock": "bedrock",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "groq": "groq",
    "mistral": "mistral",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "together_ai": "together",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "fireworks_ai": "fireworks",
    "perplexity": "perplexity",
    "hosted_vllm": "vllm",
    "stability": "stability",
    "elevenlabs": "elevenlabs",
}
"""LiteLLM's provider prefix -> OneFlow's provider."""

UNPREFIXED: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt-", "openai"),
)
UNPREFIXED += (("text-embedding-", "openai"), ("dall-e", "openai"), ("tts-", "openai"), ("whisper", "openai"))
UNPREFIXED += (("claude-", "anthropic"),)
"""A model written without a prefix, as LiteLLM infers its provider from the name."""

AWS_REGION_VARIABLES = ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION")
AZURE_API_VERSION = "2024-10-21"
"""Azure OpenAI's latest generally available API version, for an entry that gives none."""
SAME = {"rpm": "rpm", "tpm": "tpm", "weight": "weight"}
TIMEOUTS = {"timeout": "read", "stream_timeout": "stream_idle"}
PROVIDER_FIELDS = {
    "api_version": ("azure", "api_version"),
    "aws_region_name": ("bedrock", "region"),
    "vertex_project": ("vertex_ai", "project"),
    "vertex_location": ("vertex_ai", "location"),
    "vertex_credentials": ("vertex_ai", "credentials_file"),
}
AWS_SECRETS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
PRICES = {"input_cost_per_token": "input_per_million", "output_cost_per_token": "output_per_million"}
NATIVE_KEY = {"api_base": "base_url", **TIMEOUTS, **{k: v[1] for k, v in PROVIDER_FIELDS.items()}}
NATIVE_KEY.update({k: "timeouts" for k in TIMEOUTS})
MODES = ("chat", "embedding", "image_generation", "audio_speech", "audio_transcription")


def to_groups(model_list: Any, notes: Notes, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    if not isinstance(model_list, list):
        raise TranslationError(("model_list",), "model_list is a list of models")
    groups: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(model_list):
        at: Where = ("model_list", i)
        if not isinstance(entry, dict) or not isinstance(entry.get("model_name"), str):
            raise TranslationError(at, "each model_list entry has a model_name and litellm_params")
        name = entry["model_name"]
        group = groups.get(name, {"name": name, "deployments": []})
        g = list(groups).index(name) if name in groups else len(groups)
        d = len(group["deployments"])
        deployment = _deployment(entry, at, ("models", g, "deployments", d), group, notes, environ)
        if deployment is not None:  # a model none of whose entries OneFlow can serve is left out
            groups[name] = group
            group["deployments"].append(deployment)
            notes.sources.setdefault(("models", g), at)
            notes.sources[("models", g, "deployments", d)] = at
    return list(groups.values())


def _deployment(
    entry: dict[str, Any], at: Where, native: Where, group: dict[str, Any], notes: Notes, environ: Mapping[str, str]
) -> dict[str, Any] | None:
    params = entry.get("litellm_params")
    if not isinstance(params, dict) or not isinstance(params.get("model"), str):
        raise TranslationError(at, "litellm_params.model is required, as openai/gpt-4o")
    pat: Where = (*at, "litellm_params")
    provider, model = _provider(params["model"])
    if params["model"] == "*":
        why = "wildcard routing has no equivalent: OneFlow serves the models configured (and OPENAI_API_KEY's)"
        notes.drop((*pat, "model"), why)
        return None
    if provider is None:
        why = f"provider of {params['model']!r} has no equivalent in OneFlow: deployment left out"
        notes.drop((*pat, "model"), why)
        return None
    out: dict[str, Any] = {"provider": provider, "model": model}
    settings: dict[str, Any] = {}
    for key, value in {**{k: entry[k] for k in ("rpm", "tpm") if k in entry}, **params}.items():
        where = (*pat, key) if key in params else (*at, key)
        notes.sources[(*native, NATIVE_KEY.get(key, key))] = where
        if key == "model":
            continue
        if key == "api_key":
            out["api_key"] = secret_reference(value, where)
        elif key == "api_base":
            out["base_url"] = _base_url(provider, env_value(value, where, environ))
        elif key in SAME:
            out[SAME[key]] = env_value(value, where, environ)
        elif key in TIMEOUTS:
            out.setdefault("timeouts", {})[TIMEOUTS[key]] = env_value(value, where, environ)
        elif key in PROVIDER_FIELDS and PROVIDER_FIELDS[key][0] == provider:
            settings[PROVIDER_FIELDS[key][1]] = env_value(value, where, environ)
        elif key in AWS_SECRETS and provider == "bedrock":
            settings[key] = secret_reference(value, where)
        elif key in ("extra_headers", "headers") and isinstance(value, dict):
            out.setdefault("headers", {}).update({str(k): str(v) for k, v in value.items()})
        elif key == "organization" and provider == "openai":
            out.setdefault("headers", {})["OpenAI-Organization"] = env_value(value, where, environ)
        elif key in PRICES:
            out.setdefault("price", {})[PRICES[key]] = _per_million(value)
        else:
            notes.drop(where, _why(key))
    if provider == "bedrock" and "region" not in settings:
        region = next((environ[v] for v in AWS_REGION_VARIABLES if environ.get(v)), None)
        if region is None:
            notes.drop((*pat, "model"), "no aws_region_name and no AWS_REGION in the environment: deployment left out")
            return None
        settings["region"] = region
    if provider == "azure" and "api_version" not in settings:
        settings["api_version"] = AZURE_API_VERSION
        notes.drop((*pat, "model"), f"no api_version: LiteLLM's default is its own, OneFlow uses {AZURE_API_VERSION}")
    out.update(settings)
    _model_info(entry.get("model_info"), (*at, "model_info"), native, out, group, notes)
    return out


def _model_info(info: Any, at: Where, native: Where, out: dict[str, Any], group: dict[str, Any], notes: Notes) -> None:
    if not isinstance(info, dict):
        return
    for key, value in info.items():
        notes.sources[(*native, key)] = (*at, key)
        if key == "id":
            out["id"] = str(value)
        elif key == "mode" and value in MODES:
            group["mode"] = value
        elif key in PRICES:
            out.setdefault("price", {})[PRICES[key]] = _per_million(value)
        elif key in ("max_input_tokens", "max_tokens") and isinstance(value, int) and value > 0:
            out.setdefault("context_window", value)
        else:
            notes.drop((*at, key), "model metadata OneFlow does not use: ignored")


def _provider(model: str) -> tuple[str | None, str]:
    prefix, slash, rest = model.partition("/")
    if slash and prefix in PROVIDERS:
        if prefix == "bedrock":
            rest = rest.removeprefix("converse/")
        return PROVIDERS[prefix], rest
    if slash:
        return None, model
    return next((p for start, p in UNPREFIXED if model.startswith(start)), None), model


def _base_url(provider: str, url: Any) -> Any:
    """LiteLLM talks to Ollama's own API at its root; OneFlow to its OpenAI-compatible one under /v1."""
    if provider == "ollama" and isinstance(url, str) and not url.rstrip("/").endswith("/v1"):
        return url.rstrip("/") + "/v1"
    return url


def _per_million(value: Any) -> str:
    return format((Decimal(str(value)) * 1_000_000).normalize(), "f")


def _why(key: str) -> str:
    if key in ("temperature", "max_tokens", "top_p", "stop", "seed", "frequency_penalty", "presence_penalty"):
        return "default request parameters are not set by OneFlow (the client sends them): ignored"
    if key == "max_retries":
        return "retries are the router's (routing.max_attempts): ignored"
    return "no equivalent in OneFlow: ignored"
