"""The `tokens:` section: how a call's tokens are estimated before it is made, checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from oneflow_ai.config import ConfigError, load_config
from oneflow_ai.config.schema import GatewayConfig

MODELS = "\nmodels:\n  - {name: chat, deployments: [{provider: demo, model: demo}]}\n"


def load(tmp_path: Path, text: str) -> GatewayConfig:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, {})


def test_estimates_need_no_tokenizer_unless_the_config_chooses_it(tmp_path: Path) -> None:
    assert load(tmp_path, MODELS).tokens.estimate == "heuristic"
    chosen = load(tmp_path, "tokens: {estimate: tokenizer}" + MODELS)
    assert chosen.tokens.estimate == "tokenizer"
    more = {"name": "more", "deployments": [{"provider": "demo", "model": "demo"}]}
    assert chosen.merged([more]).tokens == chosen.tokens  # environment models added, the choice kept


@pytest.mark.parametrize("text", ["tokens: {estimate: tiktoken}", "tokens: {estimator: tokenizer}"])
def test_an_unknown_choice_is_refused_with_its_line(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=r"config\.yaml:1.*tokens"):
        load(tmp_path, text + MODELS)
