"""`vault:` through hvac against a fake Vault speaking its KV v2 and Kubernetes login API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oneflow_ai.config.secrets import SecretError, resolve
from tests.fakes.runner import AiohttpServer
from tests.fakes.vault_server import FakeVault

TOKEN = "hvs.CAESIJ-test-root-token"
DATA = {"api_key": "sk-from-vault", "org": "org-42"}


@pytest.fixture(scope="module")
def vault() -> Iterator[tuple[FakeVault, str]]:
    mounts = {"secret": {"openai": DATA, "teams/search/anthropic": {"key": "sk-ant-one"}}}
    fake = FakeVault(mounts=mounts, tokens={TOKEN})
    fake.roles["oneflow"] = "eyJhbGciOiJSUzI1NiJ9.service-account.jwt"
    server = AiohttpServer(fake.app)
    yield fake, server.url
    server.stop()


def test_a_field_is_read_with_the_token(vault: tuple[FakeVault, str]) -> None:
    fake, url = vault
    env = {"VAULT_ADDR": url, "VAULT_TOKEN": TOKEN}
    assert resolve("vault:secret/openai#api_key", env) == "sk-from-vault"
    method, path, headers = fake.received[-1]
    assert (method, path, headers["X-Vault-Token"]) == ("GET", "/v1/secret/data/openai", TOKEN)


def test_without_a_field_the_only_value_is_taken(vault: tuple[FakeVault, str]) -> None:
    env = {"VAULT_ADDR": vault[1], "VAULT_TOKEN": TOKEN}
    assert resolve("vault:secret/teams/search/anthropic", env) == "sk-ant-one"
    with pytest.raises(SecretError, match=r"several fields \(api_key, org\): name one with #field"):
        resolve("vault:secret/openai", env)


def test_refusals_are_errors_naming_the_reference(vault: tuple[FakeVault, str]) -> None:
    env = {"VAULT_ADDR": vault[1], "VAULT_TOKEN": "hvs.not-a-token"}
    with pytest.raises(SecretError, match=r"^vault:secret/openai#api_key: Vault refused: permission denied$"):
        resolve("vault:secret/openai#api_key", env)
    env["VAULT_TOKEN"] = TOKEN
    with pytest.raises(SecretError, match="vault:secret/absent#k: no such secret in Vault"):
        resolve("vault:secret/absent#k", env)
    with pytest.raises(SecretError, match="the secret has no field 'nope'"):
        resolve("vault:secret/openai#nope", env)
    with pytest.raises(SecretError, match="VAULT_ADDR is not set"):
        resolve("vault:secret/openai#api_key", {"VAULT_TOKEN": TOKEN})
    with pytest.raises(SecretError, match="set VAULT_TOKEN, or VAULT_K8S_ROLE"):
        resolve("vault:secret/openai#api_key", {"VAULT_ADDR": vault[1]})


def test_an_unreachable_vault_is_an_error_not_a_hang(vault: tuple[FakeVault, str]) -> None:
    from tests.fakes.runner import free_port

    env = {"VAULT_ADDR": f"http://127.0.0.1:{free_port()}", "VAULT_TOKEN": TOKEN}
    with pytest.raises(SecretError, match=r"cannot reach Vault at http://127\.0\.0\.1:\d+: ConnectionError"):
        resolve("vault:secret/openai#api_key", env)


def test_kubernetes_auth_logs_in_with_the_service_account_token(vault: tuple[FakeVault, str], tmp_path: Path) -> None:
    fake, url = vault
    jwt = tmp_path / "token"
    jwt.write_text(fake.roles["oneflow"] + "\n")
    env = {"VAULT_ADDR": url, "VAULT_K8S_ROLE": "oneflow", "VAULT_K8S_TOKEN_FILE": str(jwt)}
    assert resolve("vault:secret/openai#org", env) == "org-42"
    (login, login_path, _), (_, read_path, read_headers) = fake.received[-2:]
    assert (login, login_path, read_path) == ("POST", "/v1/auth/kubernetes/login", "/v1/secret/data/openai")
    assert read_headers["X-Vault-Token"].startswith("hvs.") and read_headers["X-Vault-Token"] != TOKEN
    jwt.write_text("eyJ.someone-else")
    with pytest.raises(SecretError, match="Vault refused: permission denied"):
        resolve("vault:secret/openai#org", env)
    with pytest.raises(SecretError, match="cannot read the service account token"):
        resolve("vault:secret/openai#org", {**env, "VAULT_K8S_TOKEN_FILE": str(tmp_path / "absent")})
