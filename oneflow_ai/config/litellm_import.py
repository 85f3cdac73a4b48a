"""`oneflow import-litellm`: a LiteLLM proxy config.yaml written as OneFlow's YAML, each setting left out named in a
comment at the top (with its line in the LiteLLM file and why)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from oneflow_ai.config.litellm import dotted, from_litellm, is_litellm
from oneflow_ai.config.litellm.notes import TranslationError
from oneflow_ai.config.loader import ConfigError, read_yaml, validate

HEADER = "# OneFlow configuration translated from the LiteLLM proxy config {source} by `oneflow import-litellm`.\n"


def import_litellm(source: str, output: str | None, environ: Mapping[str, str]) -> int:
    try:
        text = to_native_yaml(Path(source), environ)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    if output is None:
        sys.stdout.write(text)
    else:
        Path(output).write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    return 0


def to_native_yaml(path: Path, environ: Mapping[str, str]) -> str:
    """The native YAML for the LiteLLM config at `path` (validated as OneFlow would load it; secrets not read)."""
    data, lines = read_yaml(path)
    if not is_litellm(data):
        raise ConfigError(f"{path}: not a LiteLLM proxy config (it has no model_list)")
    try:
        native, notes = from_litellm(data, environ)
    except TranslationError as e:
        raise ConfigError(f"{path}:{_line(lines, e.where)}: {dotted(e.where)}: {e}") from None
    validate(path, native, {})
    comments = [HEADER.format(source=path.name)]
    if notes.dropped:
        comments.append("# Left out (no equivalent in OneFlow):\n")
        comments += [f"#   line {_line(lines, w)}: {dotted(w)}: {why}\n" for w, why in notes.dropped]
    return "".join(comments) + yaml.safe_dump(_plain(native), sort_keys=False, allow_unicode=True)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _line(lines: dict[tuple[str | int, ...], int], at: tuple[str | int, ...]) -> int:
    while at not in lines and at:
        at = at[:-1]
    return lines.get(at, 1)
