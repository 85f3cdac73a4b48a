"""LiteLLM proxy configs from LiteLLM's documentation load as OneFlow's, each setting without an equivalent warned
once with its file:line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from oneflow_ai.config import ConfigError, GatewayConfig, load_config
from oneflow_ai.config.litellm.models import PROVIDERS
from oneflow_ai.config.presets import PROVIDERS as ONEFLOW_PROVIDERS

FIXTURES = Path(__file__).parent.parent / "fixtures" / "litellm"


def load(name: str, environ: dict[str, str]) -> tuple[GatewayConfig, list[str]]:
    warnings: list[str] = []
    return load_config(FIXTURES / name, environ, warn=warnings.append), warnings


def test_the_quick_start_config() -> None:
    config, warnings = load("quick_start.yaml", {"AWS_REGION": "eu-central-1"})
    groups = config.by_name()
    gpt = groups["gpt-4o"]
    assert [(d.provider, d.model, d.url, d.api_key, d.rpm) for d in gpt.deployments] == [
        ("azure", "gpt-4o-eu", "https://my-endpoint-europe-berri-992.openai.azure.com", "env:AZURE_API_KEY_EU", 6),
        ("azure", "gpt-4o-ca", "https://my-endpoint-canada-berri992.openai.azure.com", "env:AZURE_API_KEY_CA", 6),
    ]
    assert gpt.deployments[0].provider_settings.api_version == "2024-10-21"  # type: ignore[union-attr]
    claude = groups["anthropic-claude"].deployments[0]
    assert (claude.provider, claude.model, claude.url) == (
        "bedrock",
        "anthropic.claude-instant-v1",
        "https://bedrock-runtime.us-east-1.amazonaws.com",
    )
    assert groups["bedrock-claude-v1"].deployments[0].url == "https://bedrock-runtime.eu-central-1.amazonaws.com"
    vllm = groups["vllm-models"].deployments[0]
    assert (vllm.provider, vllm.model, vllm.url, vllm.resolve_key({}), vllm.rpm) == (
        "openai",
        "facebook/opt-125m",
        "http://0.0.0.0:4000/v1",
        "none",
        1440,
    )
    assert "*" not in groups and config.resolved_master_key == "sk-1234"
    path = FIXTURES / "quick_start.yaml"
    assert warnings == [
        f"{path}:6: LiteLLM setting model_list.0.litellm_params.model: no api_version: LiteLLM's default is its "
        "own, OneFlow uses 2024-10-21",
        f"{path}:15: LiteLLM setting model_list.2.litellm_params.model: no api_version: LiteLLM's default is its "
        "own, OneFlow uses 2024-10-21",
        f"{path}:31: LiteLLM setting model_list.4.model_info.version: model metadata OneFlow does not use: ignored",
        f"{path}:38: LiteLLM setting model_list.5.litellm_params.model: wildcard routing has no equivalent: OneFlow "
        "serves the models configured (and OPENAI_API_KEY's)",
        f"{path}:42: LiteLLM setting litellm_settings.success_callback: no equivalent in OneFlow: ignored",
        f"{path}:46: LiteLLM setting general_settings.alerting: no equivalent in OneFlow: ignored",
    ]


def test_router_settings_retries_timeouts_and_fallbacks() -> None:
    env = {"OPENAI_ORG_ID": "org-42", "REDIS_HOST": "redis", "REDIS_PORT": "6379", "LITELLM_MASTER_KEY": "sk-m"}
    config, warnings = load("router_fallbacks.yaml", env)
    routing = config.routing
    assert (routing.strategy, routing.max_attempts, routing.deadline_s, routing.backoff_base_s) == (
        "least_busy",
        3,  # router_settings.num_retries 2 (over litellm_settings' 3) + the first attempt
        30,  # router_settings.timeout over litellm_settings.request_timeout
        5,
    )
    assert (routing.breaker.consecutive_failures, routing.breaker.cooldown_s) == (3, 30)
    groups = config.by_name()
    gpt35 = groups["gpt-3.5-turbo"]
    assert gpt35.fallbacks == ("gpt-4", "claude-3-5-sonnet") and groups["gpt-4o-mini"] is gpt35
    first, second = gpt35.deployments
    assert (first.id, first.tpm, first.timeouts.read, first.timeouts.stream_idle) == ("deployment-1", 100000, 300, 60)
    assert (second.provider, second.api_key, second.rpm) == ("openai", "env:OPENAI_API_KEY_2", 900)
    assert groups["gpt-4"].deployments[0].headers == {"OpenAI-Organization": "org-42"}
    assert groups["claude-3-5-sonnet"].deployments[0].provider == "anthropic"
    embed = groups["text-embedding-ada-002"]
    assert embed.mode == "embedding" and embed.deployments[0].price.input_per_million == Decimal("0.1")  # type: ignore[union-attr]
    assert (config.cache.mode, config.cache.ttl_s) == ("exact", 600)
    assert "zephyr-beta" not in groups and config.resolved_master_key == "sk-m"
    named = [w.split("LiteLLM setting ", 1)[1].split(":", 1)[0] for w in warnings]
    assert named == [
        "model_list.0.litellm_params.model",
        "model_list.1.model_info.base_model",
        "model_list.4.litellm_params.temperature",
        "litellm_settings.fallbacks.0.zephyr-beta",
        "litellm_settings.context_window_fallbacks",
        "litellm_settings.set_verbose",
        "router_settings.redis_host",
        "router_settings.redis_port",
        "router_settings.enable_pre_call_checks",
        "general_settings.database_url",
    ]
    assert "huggingface/HuggingFaceH4/zephyr-7b-beta' has no equivalent" in warnings[0]


def test_azure_entries() -> None:
    config, warnings = load("azure.yaml", {"AZURE_API_BASE": "https://example-eu.openai.azure.com/"})
    groups = config.by_name()
    chat, embed, gpt4o = groups["gpt-4"], groups["azure-embedding-model"], groups["gpt-4o"]
    assert chat.deployments[0].url == "https://example-eu.openai.azure.com"
    assert chat.deployments[0].provider_settings.api_version == "2023-05-15"  # type: ignore[union-attr]
    assert embed.mode == "embedding" and embed.deployments[0].model == "azure-embedding-model"
    assert (gpt4o.deployments[0].tpm, gpt4o.deployments[0].rpm) == (240000, 1800)
    assert len(warnings) == 1 and "model_info.base_model" in warnings[0]


def test_bedrock_entries() -> None:
    env = {
        "CUSTOM_AWS_REGION_NAME": "eu-west-3",
        "CUSTOM_AWS_ACCESS_KEY_ID": "AKIA1",
        "CUSTOM_AWS_SECRET_ACCESS_KEY": "s",
    }
    config, warnings = load("bedrock.yaml", env)
    groups = config.by_name()
    v1 = groups["bedrock-claude-v1"].deployments[0]
    assert v1.url == "https://bedrock-runtime.eu-west-3.amazonaws.com"
    assert v1.provider_settings.credentials(env) == ("AKIA1", "s", None)  # type: ignore[union-attr]
    assert groups["bedrock-claude-3-5-sonnet"].deployments[0].model == "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert [w.rsplit(": ", 2)[0].split("LiteLLM setting ")[1] for w in warnings] == [
        "model_list.2.litellm_params.aws_role_name",
        "model_list.2.litellm_params.aws_session_name",
    ]


def test_an_unset_variable_in_a_plain_setting_stops_the_load_at_its_line() -> None:
    with pytest.raises(ConfigError) as refused:
        load("azure.yaml", {})
    assert str(refused.value) == (
        f"{FIXTURES / 'azure.yaml'}:6: model_list.0.litellm_params.api_base: os.environ/AZURE_API_BASE: the "
        "environment variable AZURE_API_BASE is not set"
    )


def test_a_bad_value_is_reported_at_the_litellm_line(tmp_path: Path) -> None:
    path = tmp_path / "litellm.yaml"
    path.write_text(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: groq/llama3\n      rpm: -5\n"
        "router_settings:\n  fallbacks: [{m: [nowhere]}]\n"
    )
    with pytest.raises(ConfigError, match=r"litellm.yaml:5: models.0.deployments.0.rpm: Input should be greater"):
        load_config(path, {})
    path.write_text("model_list:\n  - model_name: m\n    litellm_params:\n      model: groq/llama3\n")
    assert load_config(path, {}).by_name()["m"].deployments[0].url == "https://api.groq.com/openai/v1"


def test_every_mapped_provider_exists_in_oneflow() -> None:
    assert set(PROVIDERS.values()) <= set(ONEFLOW_PROVIDERS)


@pytest.mark.parametrize(
    ("model", "provider", "upstream"),
    [
        ("openai/gpt-4o", "openai", "gpt-4o"),
        ("anthropic/claude-3-5-sonnet-20240620", "anthropic", "claude-3-5-sonnet-20240620"),
        ("gemini/gemini-1.5-pro", "google", "gemini-1.5-pro"),
        ("cohere/command-r-plus", "cohere", "command-r-plus"),
        ("groq/llama3-8b-8192", "groq", "llama3-8b-8192"),
        ("mistral/mistral-large-latest", "mistral", "mistral-large-latest"),
        ("together_ai/meta-llama/Llama-3-70b-chat-hf", "together", "meta-llama/Llama-3-70b-chat-hf"),
        ("deepseek/deepseek-chat", "deepseek", "deepseek-chat"),
        ("openrouter/anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),
        ("fireworks_ai/accounts/fireworks/models/llama-v3-70b-instruct", "fireworks", None),
        ("ollama/llama3", "ollama", "llama3"),
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("claude-3-haiku-20240307", "anthropic", "claude-3-haiku-20240307"),
    ],
)
def test_provider_prefixes(tmp_path: Path, model: str, provider: str, upstream: str | None) -> None:
    path = tmp_path / "litellm.yaml"
    path.write_text(f"model_list:\n  - model_name: m\n    litellm_params:\n      model: {model}\n")
    deployment = load_config(path, {}).by_name()["m"].deployments[0]
    assert (deployment.provider, deployment.model) == (provider, upstream or model.partition("/")[2])


def test_ollama_and_vertex_entries(tmp_path: Path) -> None:
    path = tmp_path / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: local\n    litellm_params: {model: ollama/llama3, api_base: 'http://localhost:11434'}\n"
        "  - model_name: vertex\n"
        "    litellm_params:\n"
        "      {model: vertex_ai/gemini-1.5-pro, vertex_project: my-proj, vertex_location: europe-west4}\n"
    )
    groups = load_config(path, {}).by_name()
    assert groups["local"].deployments[0].url == "http://localhost:11434/v1"
    vertex = groups["vertex"].deployments[0]
    assert (vertex.provider, vertex.provider_settings.project, vertex.provider_settings.location) == (  # type: ignore[union-attr]
        "vertex_ai",
        "my-proj",
        "europe-west4",
    )
