from __future__ import annotations

from pathlib import Path

import pytest

from oneflow_ai.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models:\n  - name: a\n    deployments:\n      - provider: openai\n        model: m\n        weight: -1\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert f"{path}:6: models.0.deployments.0.weight" in str(info.value)


def test_unknown_fallback_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "models:\n  - name: a\n    fallbacks: [nope]\n    deployments: [{provider: demo, model: demo}]\n"
    )
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        load_config(path, {})


def test_unknown_strategy_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "models:\n  - name: a\n    strategy: fastest\n    deployments: [{provider: demo, model: demo}]\n"
    )
    with pytest.raises(ConfigError, match="unknown routing strategy 'fastest'"):
        load_config(path, {})


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config.yaml:2: not valid YAML"):
        load_config(write(tmp_path, "models:\n\t- name: a\n"), {})


def test_zero_config_from_the_environment() -> None:
    names = {g.name for g in load_config(None, {}).models}
    assert names == {"demo", "demo-embedding", "demo-image", "demo-speech"}
    env = {"OPENAI_API_KEY": "sk-1", "OPENAI_BASE_URL": "http://local/v1", "ANTHROPIC_API_KEY": "sk-2"}
    by_name = load_config(None, env).by_name()
    assert by_name["gpt-4o"].deployments[0].url == "http://local/v1"
    assert by_name["gpt-4o"].deployments[0].resolve_key(env) == "sk-1"
    assert by_name["claude-3-haiku-20240307"].deployments[0].url == "https://api.anthropic.com"
    assert by_name["text-embedding-3-small"].mode == "embedding"
    modes = {n: by_name[n].mode for n in ("dall-e-3", "gpt-image-1", "tts-1", "whisper-1", "gpt-4o-transcribe")}
    assert set(modes.values()) == {"image_generation", "audio_speech", "audio_transcription"}


def test_file_models_win_over_environment_models(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - name: gpt-4o\n    deployments: [{provider: demo, model: demo}]\n")
    assert load_config(path, {"OPENAI_API_KEY": "k"}).by_name()["gpt-4o"].deployments[0].provider == "demo"


def test_key_references_resolve_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - name: g\n    deployments: [{provider: groq, model: l, api_key: env:MY_KEY}]\n")
    dep = load_config(path, {}).by_name()["g"].deployments[0]
    assert dep.resolve_key({"MY_KEY": "secret"}) == "secret" and dep.url == "https://api.groq.com/openai/v1"


def test_an_embedding_group_on_a_provider_without_embeddings_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models:\n"
        "  - name: chat\n"
        "    deployments: [{provider: anthropic, model: claude-haiku-4-5}]\n"
        "  - name: vectors\n"
        "    mode: embedding\n"
        "    deployments:\n"
        "      - provider: openai\n"
        "        model: text-embedding-3-small\n"
        "      - provider: anthropic\n"
        "        model: claude-haiku-4-5\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(info.value).splitlines()[1:] == [
        f"{path}:9: models.1.deployments.1.provider: provider anthropic cannot serve a model group of mode "
        "embedding (it has no embeddings)"
    ]


def test_every_provider_serves_chat_and_the_openai_wire_serves_embeddings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models:\n"
        "  - {name: c, deployments: [{provider: anthropic, model: m}, {provider: groq, model: m}]}\n"
        "  - {name: e, mode: embedding, deployments: [{provider: mistral, model: m}, {provider: demo, model: m}]}\n",
    )
    assert [g.name for g in load_config(path, {}).models[:2]] == ["c", "e"]


AZURE = (
    "models:\n"
    "  - name: a\n"
    "    deployments:\n"
    "      - provider: azure\n"
    "        model: gpt-4o\n"
    "        base_url: https://r.openai.azure.com\n"
)


def test_azure_fields_are_written_beside_the_others_and_kept_by_its_provider(tmp_path: Path) -> None:
    from oneflow_ai.providers.azure import AzureSettings

    path = write(tmp_path, AZURE + '        azure_deployment: prod\n        api_version: "2024-10-21"\n')
    dep = load_config(path, {}).models[0].deployments[0]
    assert dep.provider_settings == AzureSettings(api_version="2024-10-21", azure_deployment="prod")


def test_azure_without_its_api_version_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, AZURE + "        azure_deployment: prod\n"), {})
    assert f"{tmp_path / 'config.yaml'}:4: models.0.deployments.0.api_version: Field required" in str(info.value)
    with pytest.raises(ConfigError, match=r"config.yaml:7: models.0.deployments.0.api_version: Input should be a"):
        load_config(write(tmp_path, AZURE + "        api_version: [1]\n"), {})


def test_a_field_of_another_provider_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models:\n  - name: g\n    deployments:\n      - provider: openai\n        model: m\n"
        '        api_version: "2024-10-21"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert f"{path}:6: models.0.deployments.0.api_version: a setting of provider azure, not of openai" in str(
        info.value
    )


def test_a_media_group_on_a_provider_without_the_capability_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models:\n"
        "  - name: pictures\n"
        "    mode: image_generation\n"
        "    deployments: [{provider: elevenlabs, model: eleven_multilingual_v2}]\n"
        "  - name: voices\n"
        "    mode: audio_speech\n"
        "    deployments: [{provider: stability, model: stable-image-core}]\n",
    )
    with pytest.raises(ConfigError) as e:
        load_config(path, {})
    assert (
        "config.yaml:4: models.0.deployments.0.provider: provider elevenlabs cannot serve a model group of mode"
        in str(e.value)
    )
    assert "config.yaml:7: models.1.deployments.0.provider: provider stability cannot serve" in str(e.value)
