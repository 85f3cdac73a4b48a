"""What a LiteLLM translation carries besides the native config: where each value came from, and what was dropped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Where = tuple[str | int, ...]
"""A path in the LiteLLM file, as `("model_list", 0, "litellm_params", "rpm")`."""


class TranslationError(ValueError):
    """A LiteLLM setting that cannot be translated (an unset os.environ/ variable, a malformed entry)."""

    def __init__(self, where: Where, message: str) -> None:
        super().__init__(message)
        self.where = where


@dataclass
class Notes:
    sources: dict[Where, Where] = field(default_factory=dict)
    """Native path -> the LiteLLM path it was translated from (for file:line in errors)."""
    dropped: list[tuple[Where, str]] = field(default_factory=list)
    """LiteLLM settings with no equivalent: the path and why."""

    def drop(self, where: Where, reason: str) -> None:
        self.dropped.append((where, reason))


def env_value(value: Any, where: Where, environ: Mapping[str, str]) -> Any:
    """A plain (non-secret) setting: `os.environ/NAME` is read now, as LiteLLM does."""
    if isinstance(value, str) and value.startswith("os.environ/"):
        name = value.removeprefix("os.environ/")
        if not environ.get(name):
            raise TranslationError(where, f"{value}: the environment variable {name} is not set")
        return environ[name]
    return value


def secret_reference(value: Any, where: Where) -> str:
    """A secret: `os.environ/NAME` becomes the reference `env:NAME`; anything else is kept as written."""
    if not isinstance(value, str):
        raise TranslationError(where, "a key is a string")
    return "env:" + value.removeprefix("os.environ/") if value.startswith("os.environ/") else value


def dotted(where: Where) -> str:
    return ".".join(str(p) for p in where)
