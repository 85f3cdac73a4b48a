"""`oneflow import-litellm`: the native YAML it writes loads as OneFlow's own config, equal to what `oneflow serve
--config litellm.yaml` uses, with what was left out named in comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from oneflow_ai.cli import main
from oneflow_ai.config import load_config

FIXTURES = Path(__file__).parent.parent / "fixtures" / "litellm"
ENVIRONMENTS = {
    "quick_start.yaml": {"AWS_REGION": "eu-central-1"},
    "router_fallbacks.yaml": {
        "OPENAI_ORG_ID": "org-42",
        "REDIS_HOST": "r",
        "REDIS_PORT": "1",
        "LITELLM_MASTER_KEY": "k",
    },
    "azure.yaml": {"AZURE_API_BASE": "https://example-eu.openai.azure.com/"},
    "bedrock.yaml": {"CUSTOM_AWS_REGION_NAME": "eu-west-3"},
}


@pytest.mark.parametrize("fixture", sorted(ENVIRONMENTS))
def test_the_written_yaml_loads_as_what_serve_used(
    fixture: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = ENVIRONMENTS[fixture]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "oneflow.yaml"
    assert main(["import-litellm", str(FIXTURES / fixture), "-o", str(out)]) == 0
    warned: list[str] = []
    served = load_config(FIXTURES / fixture, env, warn=warned.append)
    imported = load_config(out, env, warn=pytest.fail)  # native: nothing to warn about
    assert imported.model_dump() == served.model_dump()
    assert imported.resolved_master_key == served.resolved_master_key
    text = out.read_text()
    assert text.startswith(f"# OneFlow configuration translated from the LiteLLM proxy config {fixture}")
    for warning in warned:  # each dropped setting is named in a comment, with its line
        line, _, rest = warning.partition(": LiteLLM setting ")
        assert f"#   line {line.rsplit(':', 1)[1]}: {rest}\n" in text


def test_without_output_the_yaml_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-litellm", str(FIXTURES / "quick_start.yaml")]) == 0
    out = capsys.readouterr().out
    assert "models:\n- name: gpt-4o\n  deployments:\n  - provider: azure\n    model: gpt-4o-eu\n" in out
    assert "#   line 42: litellm_settings.success_callback: no equivalent in OneFlow: ignored\n" in out


def test_a_native_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "oneflow.yaml"
    path.write_text("models: []\n")
    assert main(["import-litellm", str(path)]) == 2
    assert "not a LiteLLM proxy config (it has no model_list)" in capsys.readouterr().err
