"""Load the YAML configuration, validate it, and name the file and line of anything wrong.

Zero-config: with no file, the environment variables the official SDKs read (`OPENAI_API_KEY`,
`OPENAI_BASE_URL`, `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`) add the providers' well-known models, and the
built-in `demo` model is always there so a first run answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from oneflow_ai.config.litellm import TranslationError, dotted, from_litellm, is_litellm
from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.config.secrets import Resolver, SecretError, is_reference

Path_ = tuple[str | int, ...]
log = logging.getLogger("oneflow.config")

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


def load_config(
    path: str | Path | None,
    environ: Mapping[str, str],
    *,
    warn: Callable[[str], None] | None = None,
    require_env: bool = False,
) -> GatewayConfig:
    """Read `path` (if any), validate it, read the secrets it refers to, and add the environment's zero-config
    models and `demo`. A LiteLLM proxy config is translated first; `warn` gets one line per LiteLLM setting with no
    equivalent (default: logged as a warning). `require_env` (`oneflow serve`, `check-config`): an `env:` variable
    that is not set stops the start too; otherwise it is read when the gateway is built (unset: no key sent)."""
    config = _load_file(Path(path), environ, warn or log.warning, require_env) if path else GatewayConfig()
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


def _load_file(path: Path, environ: Mapping[str, str], warn: Callable[[str], None], require_env: bool) -> GatewayConfig:
    data, lines = read_yaml(path)
    if data is None:
        return GatewayConfig()
    if is_litellm(data):
        data, lines = translated(path, data, lines, environ, warn)
    config = validate(path, data, lines)
    resolve_secrets(path, config, lines, environ, require_env=require_env)
    return config


def read_yaml(path: Path) -> tuple[Any, dict[Path_, int]]:
    """The file's data, and the line of every value by its path."""
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
    lines: dict[Path_, int] = {}
    if node is None:
        return None, lines
    return _to_python(node, (), lines, yaml.SafeLoader("")), lines


def translated(
    path: Path, data: dict[str, Any], lines: dict[Path_, int], environ: Mapping[str, str], warn: Callable[[str], None]
) -> tuple[dict[str, Any], dict[Path_, int]]:
    """A LiteLLM config as native data, with the native paths' lines taken from the LiteLLM values they came from;
    each dropped setting is passed to `warn`, naming it."""
    try:
        native, notes = from_litellm(data, environ)
    except TranslationError as e:
        raise ConfigError(f"{path}:{_line(lines, e.where)}: {dotted(e.where)}: {e}") from None
    for where, reason in notes.dropped:
        warn(f"{path}:{_line(lines, where)}: LiteLLM setting {dotted(where)}: {reason}")
    return native, {native_at: _line(lines, source) for native_at, source in notes.sources.items()}


def validate(path: Path, data: Any, lines: dict[Path_, int]) -> GatewayConfig:
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(path, e, lines)) from None


def resolve_secrets(
    path: Path, config: GatewayConfig, lines: dict[Path_, int], environ: Mapping[str, str], *, require_env: bool
) -> None:
    """Read every secret the file refers to now (each distinct reference once): one that cannot be read stops the
    start, naming the reference and its file:line, never a value."""
    resolver = Resolver(environ)
    try:
        for g, group in enumerate(config.models):
            for d, deployment in enumerate(group.deployments):
                at: Path_ = ("models", g, "deployments", d, "api_key")
                key = deployment.api_key
                if key is not None and _to_read(key, require_env):
                    deployment.keep_secret(resolver.resolve(key))
        at = ("master_key",)
        if config.master_key is not None:  # a reference read, or a literal kept as it is
            config.keep_master_key(resolver.resolve(config.master_key))
        at = ("sso", "client_secret")
        if config.sso is not None and config.sso.client_secret is not None:
            if _to_read(config.sso.client_secret, require_env):
                config.sso.keep_secret(resolver.resolve(config.sso.client_secret))
    except SecretError as e:
        raise ConfigError(f"{path}:{_line(lines, at)}: {'.'.join(map(str, at))}: secret not read: {e}") from None


def _to_read(value: str, require_env: bool) -> bool:
    return is_reference(value) and (require_env or not value.startswith("env:"))


def _line(lines: dict[Path_, int], at: Path_) -> int:
    while at not in lines and at:
        at = at[:-1]
    return lines.get(at, 1)


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
        line = _line(lines, loc)
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        parts.append(f"{path}:{line}: {dotted}: {err['msg']}")
    return "invalid configuration\n" + "\n".join(parts)
