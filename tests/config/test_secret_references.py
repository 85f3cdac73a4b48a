"""Secret references in the configuration: read at load, a missing one stops the start with its file:line, and a
value never reaches a log, an error or a dump of the configuration."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest

from oneflow_ai.config import ConfigError, load_config
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import AiohttpServer
from tests.fakes.secrets_manager import REGION, FakeSecretsManager
from tests.fakes.subprocess_gateway import SubprocessGateways
from tests.fakes.vault_server import FakeVault

VAULT_TOKEN = "hvs.CAESIJ-oneflow-test"
AWS_KEY, AWS_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, str]]:
    """A fake Vault and a fake Secrets Manager, each holding UPSTREAM_KEY, and the environment that reaches them."""
    vault = FakeVault(mounts={"secret": {"openai": {"api_key": UPSTREAM_KEY}}}, tokens={VAULT_TOKEN})
    aws = FakeSecretsManager({"prod/openai": orjson.dumps({"api_key": UPSTREAM_KEY}).decode()}, {AWS_KEY: AWS_SECRET})
    servers = [AiohttpServer(vault.app), AiohttpServer(aws.app)]
    yield {
        "VAULT_ADDR": servers[0].url,
        "VAULT_TOKEN": VAULT_TOKEN,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": servers[1].url,
    }
    for server in servers:
        server.stop()


def config_text(upstream: str, key_file: Path) -> str:
    refs = {
        "by-file": f"file:{key_file}",
        "by-vault": "vault:secret/openai#api_key",
        "by-aws": "aws-sm:prod/openai#api_key",
    }
    groups = "".join(
        f"  - name: {name}\n"
        "    deployments:\n"
        f"      - provider: openai\n        model: gpt-4o-mini\n        base_url: {upstream}/v1\n"
        f"        api_key: {ref}\n"
        for name, ref in refs.items()
    )
    return "master_key: env:CONFIG_MASTER\nmodels:\n" + groups


def test_each_reference_is_read_at_load_and_kept_out_of_dumps(
    tmp_path: Path, backends: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key_file = tmp_path / "openai-key"
    key_file.write_text(UPSTREAM_KEY + "\n")
    path = tmp_path / "oneflow.yaml"
    path.write_text(config_text("http://127.0.0.1:9", key_file))
    config = load_config(path, {**backends, "CONFIG_MASTER": "sk-master-from-env"})
    groups = config.by_name()
    for name in ("by-file", "by-vault", "by-aws"):
        assert groups[name].deployments[0].resolve_key({}) == UPSTREAM_KEY
    assert config.resolved_master_key == "sk-master-from-env"
    shown = repr(config) + config.model_dump_json() + str(config.model_dump())
    assert UPSTREAM_KEY not in shown and "sk-master-from-env" not in shown
    assert UPSTREAM_KEY not in caplog.text


def test_a_secret_that_cannot_be_read_stops_the_load_at_its_line(tmp_path: Path, backends: dict[str, str]) -> None:
    path = tmp_path / "oneflow.yaml"
    path.write_text(config_text("http://127.0.0.1:9", tmp_path / "absent").replace("env:CONFIG_MASTER", "env:M"))
    with pytest.raises(ConfigError) as refused:
        load_config(path, {**backends, "M": "x"})
    assert str(refused.value) == (
        f"{path}:8: models.0.deployments.0.api_key: secret not read: file:{tmp_path}/absent: cannot read the file: "
        "No such file or directory"
    )
    path.write_text(config_text("http://127.0.0.1:9", path).replace("secret/openai#api_key", "secret/openai#nope"))
    with pytest.raises(ConfigError, match=r"oneflow.yaml:14: models.1.deployments.0.api_key: secret not read: "):
        load_config(path, {**backends, "CONFIG_MASTER": "x"})
    wrong = {**backends, "CONFIG_MASTER": "x", "AWS_SECRET_ACCESS_KEY": "not-it"}
    path.write_text(config_text("http://127.0.0.1:9", path))
    with pytest.raises(ConfigError, match=r":20: models.2.deployments.0.api_key: .*answered InvalidSignatureException"):
        load_config(path, wrong)
    with pytest.raises(ConfigError, match=r"oneflow.yaml:1: master_key: secret not read: env:CONFIG_MASTER"):
        load_config(path, backends)


def test_env_references_are_required_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "oneflow.yaml"
    path.write_text("models:\n  - name: g\n    deployments:\n      - {provider: groq, model: l, api_key: env:NOPE}\n")
    assert load_config(path, {}).by_name()["g"].deployments[0].resolve_key({}) is None
    with pytest.raises(ConfigError, match=r"oneflow.yaml:4: models.0.deployments.0.api_key: .*NOPE is not set"):
        load_config(path, {}, require_env=True)


def test_the_cli_serves_with_secrets_from_every_backend_and_never_logs_them(
    tmp_path: Path, backends: dict[str, str]
) -> None:
    """`oneflow serve` at DEBUG: each model's key comes from its backend (the fake upstream accepts only
    UPSTREAM_KEY), and the key appears nowhere in the process's output."""
    upstream = OpenAIUpstream(require_key=UPSTREAM_KEY)
    server = AiohttpServer(upstream.app)
    key_file = tmp_path / "openai-key"
    key_file.write_text(UPSTREAM_KEY + "\n")
    gateways = SubprocessGateways(tmp_path)
    try:
        env = {**backends, "CONFIG_MASTER": "unused", "ONEFLOW_LOG_LEVEL": "DEBUG", "UPSTREAM_KEY": "-"}
        served = gateways.start(env=env, config_yaml=config_text(server.url, key_file))
        client = openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER_KEY, max_retries=0)
        for model in ("by-file", "by-vault", "by-aws"):
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content
        served.stop()
        assert UPSTREAM_KEY not in served.output()
    finally:
        gateways.stop_all()
        server.stop()


def test_the_cli_refuses_to_start_on_a_missing_secret_naming_its_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "oneflow.yaml"
    path.write_text(
        "models:\n  - name: g\n    deployments:\n"
        "      - provider: openai\n        model: m\n        api_key: vault:secret/openai#api_key\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "oneflow_ai", "check-config", str(path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "VAULT_TOKEN": "t"},
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{path}:6: models.0.deployments.0.api_key: secret not read: vault:secret/openai#api_key: " in done.stderr
    assert "VAULT_ADDR is not set" in done.stderr


def test_bedrock_credentials_take_references_too(tmp_path: Path) -> None:
    (tmp_path / "id").write_text("AKIAFROMFILE\n")
    (tmp_path / "secret").write_text("secret-from-file\n")
    path = tmp_path / "oneflow.yaml"
    path.write_text(
        "models:\n  - name: b\n    deployments:\n"
        "      - provider: bedrock\n        model: anthropic.claude-3-haiku-20240307-v1:0\n        region: us-east-1\n"
        f"        aws_access_key_id: file:{tmp_path}/id\n        aws_secret_access_key: file:{tmp_path}/secret\n"
    )
    settings = load_config(path, {}).by_name()["b"].deployments[0].provider_settings
    assert settings.credentials({}) == ("AKIAFROMFILE", "secret-from-file", None)  # type: ignore[union-attr]
