"""LiteLLM proxy configurations, translated to OneFlow's: `oneflow serve --config litellm.yaml` and
`oneflow import-litellm`. Pure: the parsed YAML and the environment in, native data and notes out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oneflow_ai.config.litellm.models import to_groups
from oneflow_ai.config.litellm.notes import Notes, TranslationError, Where, dotted
from oneflow_ai.config.litellm.settings import apply_settings

SECTIONS = ("model_list", "router_settings", "litellm_settings", "general_settings")


def is_litellm(data: Any) -> bool:
    """A LiteLLM proxy config by its shape: a `model_list`, and none of OneFlow's own `models`."""
    return isinstance(data, dict) and "model_list" in data and "models" not in data


def from_litellm(data: dict[str, Any], environ: Mapping[str, str]) -> tuple[dict[str, Any], Notes]:
    """The native configuration data for a LiteLLM config, and the notes (sources, what was dropped)."""
    notes = Notes()
    native: dict[str, Any] = {"models": to_groups(data.get("model_list"), notes, environ)}
    apply_settings(data, native, notes, environ)
    for key in data:
        if key not in SECTIONS:
            notes.drop((key,), "section with no equivalent in OneFlow: ignored")
    return native, notes


__all__ = ["Notes", "TranslationError", "Where", "dotted", "from_litellm", "is_litellm"]
