"""`oneflow check --production`'s checker: each rule on its own, and a configuration fit for production passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.ops.production import Finding, check_production, read_env_file
from oneflow_ai.settings import Settings

GOOD = {
    "ONEFLOW_MASTER_KEY": "sk-" + "a7" * 24,
    "DATABASE_URL": "postgresql://oneflow@db.internal:5432/oneflow?sslmode=verify-full",
    "REDIS_URL": "rediss://cache.internal:6380/0",
    "ONEFLOW_TRUSTED_PROXIES": "10.0.0.0/8",
}


def findings(env: dict[str, str], models: list[dict[str, Any]] | None = None) -> list[Finding]:
    config = GatewayConfig.model_validate({"models": models or []})
    return check_production(Settings.from_env(env), config)


def settings_of(found: list[Finding], severity: str) -> list[str]:
    return [f.setting for f in found if f.severity == severity]


def test_a_production_configuration_passes_clean() -> None:
    models = [{"name": "m", "deployments": [{"provider": "openai", "model": "gpt-4o", "api_key": "env:OPENAI_KEY"}]}]
    assert findings(GOOD, models) == []


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"ONEFLOW_MASTER_KEY": ""}, "ONEFLOW_MASTER_KEY"),
        ({"ONEFLOW_MASTER_KEY": "sk-1234"}, "ONEFLOW_MASTER_KEY"),
        ({"ONEFLOW_MASTER_KEY": "replace-me"}, "ONEFLOW_MASTER_KEY"),
        ({"ONEFLOW_MASTER_KEY": "sk-short-but-random-9f3"}, "ONEFLOW_MASTER_KEY"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:////data/oneflow.db"}, "DATABASE_URL"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"ONEFLOW_CORS_ORIGINS": "*"}, "ONEFLOW_CORS_ORIGINS"),
    ],
)
def test_each_error(change: dict[str, str], setting: str) -> None:
    found = findings(GOOD | change)
    assert settings_of(found, "error") == [setting]


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"DATABASE_URL": "postgresql://oneflow@db.internal/oneflow"}, "DATABASE_URL"),
        ({"REDIS_URL": "redis://cache.internal:6379/0"}, "REDIS_URL"),
        ({"ONEFLOW_TRUSTED_PROXIES": ""}, "ONEFLOW_TRUSTED_PROXIES"),
        ({"ONEFLOW_LOG_FORMAT": "text"}, "ONEFLOW_LOG_FORMAT"),
        ({"ONEFLOW_LOG_LEVEL": "debug"}, "ONEFLOW_LOG_LEVEL"),
    ],
)
def test_each_warning(change: dict[str, str], setting: str) -> None:
    found = findings(GOOD | change)
    assert settings_of(found, "error") == [] and settings_of(found, "warning") == [setting]


def test_local_services_need_no_tls() -> None:
    local = {"DATABASE_URL": "postgresql://oneflow@127.0.0.1/oneflow", "REDIS_URL": "redis://localhost:6379/0"}
    assert findings(GOOD | local) == []


def test_a_master_key_given_by_reference_is_not_judged_by_its_length() -> None:
    assert findings(GOOD | {"ONEFLOW_MASTER_KEY": "file:/etc/oneflow-secrets/ONEFLOW_MASTER_KEY"}) == []


def test_deployments_keys_by_reference_and_upstreams_over_tls() -> None:
    models = [
        {
            "name": "m",
            "deployments": [
                {"provider": "openai", "model": "gpt-4o", "api_key": "sk-live-literal"},
                {"provider": "vllm", "model": "llama", "base_url": "http://10.0.0.5:8000/v1"},
                {"provider": "vllm", "model": "llama", "base_url": "http://127.0.0.1:8000/v1"},
            ],
        }
    ]
    found = findings(GOOD, models)
    assert settings_of(found, "error") == ["models.m.deployments.0.api_key"]
    assert settings_of(found, "warning") == ["models.m.deployments.1.base_url"]
    assert "sk-live-literal" not in " ".join(f.message for f in found)  # a finding never shows the secret


def test_env_file_lines(tmp_path: Path) -> None:
    text = "# production\nONEFLOW_MASTER_KEY=sk-abc=def\n\nREDIS_URL = rediss://r:6380/0\nnot a setting\n"
    assert read_env_file(text) == {"ONEFLOW_MASTER_KEY": "sk-abc=def", "REDIS_URL": "rediss://r:6380/0"}
