"""Load the YAML configuration, validate it, and name the file and line of anything wrong.

Zero-config: with no file, the environment variables the official SDKs read (`OPENAI_API_KEY`,
`OPENAI_BASE_URL`, `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`) add the providers' well-known models, and the
built-in `demo` model is always there so a first run answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from oneflow_ai.config.schema import GatewayConfig

Path_ = tuple[str | int, ...]

OPENAI_CHAT_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4-turbo",
    "gpt-4",
    "gpt-3.5-turbo",
    "o1",
    "o3",
    "o3-mini",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
)
OPENAI_EMBEDDING_MODELS = ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")
ANTHROPIC_MODELS = (
    "claude-opus-4-1",
    "claude-opus-4-0",
    "claude-sonnet-4-5",
    "claude-sonnet-4-0",
    "claude-3-7-sonnet-latest",
    "claude-haiku-4-5",
    "claude-3-5-haiku-latest",
    "claude-3-opus-20240229",
    "claude-3-sonnet-20240229",
    "claude-3-haiku-20240307",
)


OPENAI_MEDIA_MODELS = {
    "gpt-image-1": "image_generation",
    "dall-e-3": "image_generation",
    "dall-e-2": "image_generation",
    "tts-1": "audio_speech",
    "tts-1-hd": "audio_speech",
    "gpt-4o-mini-tts": "audio_speech",
    "whisper-1": "audio_transcription",
    "gpt-4o-transcribe": "audio_transcription",
    "gpt-4o-mini-transcribe": "audio_transcription",
}
"""OpenAI's image and audio models, served with `OPENAI_API_KEY` alone as its chat models are."""


class ConfigError(ValueError):
    """The configuration is invalid; the message names the file and line."""


def load_config(path: str | Path | None, environ: Mapping[str, str]) -> GatewayConfig:
    """Read `path` (if any), validate it, and add the environment's zero-config models and `demo`."""
    config = _load_file(Path(path)) if path else GatewayConfig()
    return config.merged(environment_models(environ))


def environment_models(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [
        {"name": "demo", "deployments": [{"provider": "demo", "model": "demo"}]},
        {
            "name": "demo-embedding",
            "mode": "embedding",
            "deployments": [{"provider": "demo", "model": "demo-embedding"}],
        },
        *(
            {"name": m, "mode": mode, "deployments": [{"provider": "demo", "model": m}]}
            for m, mode in (("demo-image", "image_generation"), ("demo-speech", "audio_speech"))
        ),
    ]
    if environ.get("OPENAI_API_KEY"):
        base = environ.get("OPENAI_BASE_URL") or None
        dep = {"provider": "openai", "base_url": base, "api_key": "env:OPENAI_API_KEY"}
        groups += [{"name": m, "deployments": [{**dep, "model": m}]} for m in OPENAI_CHAT_MODELS]
        groups += [
            {"name": m, "mode": "embedding", "deployments": [{**dep, "model": m}]} for m in OPENAI_EMBEDDING_MODELS
        ]
        groups += [
            {"name": m, "mode": mode, "deployments": [{**dep, "model": m}]} for m, mode in OPENAI_MEDIA_MODELS.items()
        ]
    if environ.get("ANTHROPIC_API_KEY"):
        base = environ.get("ANTHROPIC_BASE_URL") or None
        dep = {"provider": "anthropic", "base_url": base, "api_key": "env:ANTHROPIC_API_KEY"}
        groups += [{"name": m, "deployments": [{**dep, "model": m}]} for m in ANTHROPIC_MODELS]
    return groups


def _load_file(path: Path) -> GatewayConfig:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the configuration: {e.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if node is None:
        return GatewayConfig()
    lines: dict[Path_, int] = {}
    data = _to_python(node, (), lines, yaml.SafeLoader(""))
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(path, e, lines)) from None


def _to_python(node: yaml.Node, at: Path_, lines: dict[Path_, int], loader: yaml.SafeLoader) -> Any:
    """Build plain Python from a YAML node tree, noting the line of every value by its path."""
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node))
            out[key] = _to_python(value_node, (*at, key), lines, loader)
            lines[(*at, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, (*at, i), lines, loader) for i, v in enumerate(node.value)]
    return loader.construct_object(node)


def _describe(path: Path, error: ValidationError, lines: dict[Path_, int]) -> str:
    parts = []
    for err in error.errors():
        loc: Path_ = tuple(err["loc"])
        probe = loc
        while probe not in lines and probe:
            probe = probe[:-1]
        line = lines.get(probe, 1)
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        parts.append(f"{path}:{line}: {dotted}: {err['msg']}")
    return "invalid configuration\n" + "\n".join(parts)
