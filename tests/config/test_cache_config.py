"""The `cache:` settings: loaded from YAML at the top level and per model, checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from oneflow_ai.cache.policy import Policies
from oneflow_ai.config import ConfigError, load_config

MODELS = """
models:
  - name: chat
    aliases: [chat-alias]
    cache: {mode: semantic, similarity_threshold: 0.95, ttl_s: 60, embedding_model: embed}
    deployments: [{provider: demo, model: demo}]
  - name: plain
    cache: {mode: off}
    deployments: [{provider: demo, model: demo}]
  - name: embed
    mode: embedding
    deployments: [{provider: openai, model: text-embedding-3-small}]
"""


def load(tmp_path: Path, text: str) -> Policies:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return Policies(load_config(path, {"OPENAI_API_KEY": "x"}))


def test_a_models_settings_go_over_the_top_levels(tmp_path: Path) -> None:
    policies = load(tmp_path, "cache: {mode: exact, ttl_s: 600, scope: key, allow_temperature: true}" + MODELS)
    chat = policies.of("chat")
    assert (chat.mode, chat.ttl_s, chat.similarity_threshold, chat.scope, chat.allow_temperature) == (
        "semantic", 60, 0.95, "key", True,
    )  # fmt: skip
    assert policies.of("chat-alias") == chat and policies.names["chat-alias"] == "chat"
    assert policies.of("plain").mode == "off"  # YAML's bare `off` is the mode, not false
    assert policies.of("embed").mode == "off"  # embeddings are not cached
    assert policies.of("auto").mode == "exact"  # a name not configured: the top level's
    assert policies.active and policies.thresholds == {"chat": 0.95, "chat-alias": 0.95}


def test_off_everywhere_builds_nothing(tmp_path: Path) -> None:
    assert not load(
        tmp_path, "cache: {mode: off}\nmodels:\n  - {name: m, deployments: [{provider: demo, model: demo}]}"
    ).active
    assert not load(tmp_path, "models:\n  - {name: m, deployments: [{provider: demo, model: demo}]}").active


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cache: {mode: semantic, embedding_model: nope}\n" + MODELS, "'nope' is not a configured model"),
        ("cache: {mode: semantic, embedding_model: plain}\n" + MODELS, "'plain' is a chat model"),
        ("cache: {mode: sometimes}\n" + MODELS, "cache.mode"),
        ("cache: {ttl_s: 0}\n" + MODELS, "cache.ttl_s"),
        ("cache: {mode: exact}\nmodels:\n  - {name: m, cache: {max_bytes: 10}, deployments: [{provider: demo}]}",
         "max_bytes"),
    ],
)  # fmt: skip
def test_a_bad_cache_setting_is_refused_at_start(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text)


def test_a_local_embedding_model_needs_no_group(tmp_path: Path) -> None:
    assert load(tmp_path, "cache: {mode: semantic, embedding_model: local}\n" + MODELS).of("auto").mode == "semantic"
