"""`vault:<mount>/<path>#field`: a HashiCorp Vault KV v2 secret, read with `hvac` (the `vault` extra).

Vault's address is `VAULT_ADDR` (with `VAULT_NAMESPACE` and `VAULT_CACERT` when set). Authentication:
`VAULT_TOKEN`, or Kubernetes auth when `VAULT_K8S_ROLE` is set: the pod's service account token
(`VAULT_K8S_TOKEN_FILE`, default the mounted one) is exchanged at `auth/<VAULT_K8S_MOUNT or kubernetes>/login` for a
Vault token.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oneflow_ai.config.secrets.fields import pick
from oneflow_ai.config.secrets.reference import Reference, SecretError

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
TIMEOUT_S = 10


def fetch(reference: Reference, environ: Mapping[str, str]) -> str:
    try:
        import hvac  # type: ignore[import-untyped]  # no stubs
        import hvac.exceptions  # type: ignore[import-untyped]
        import requests
    except ImportError:
        raise SecretError(
            f"{reference.text}: vault: references need the vault extra: pip install 'oneflow-ai[vault]'"
        ) from None
    address = environ.get("VAULT_ADDR")
    if not address:
        raise SecretError(f"{reference.text}: VAULT_ADDR is not set")
    mount, _, path = reference.name.strip("/").partition("/")
    try:
        verify: str | bool = environ.get("VAULT_CACERT") or True  # the CA bundle of Vault's certificate, if private
        client = hvac.Client(
            url=address, token="", namespace=environ.get("VAULT_NAMESPACE"), timeout=TIMEOUT_S, verify=verify
        )
        client.token = _token(client, reference, environ)
        reply: Any = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=mount, raise_on_deleted_version=True
        )
    except hvac.exceptions.Forbidden:
        raise SecretError(f"{reference.text}: Vault refused: permission denied") from None
    except hvac.exceptions.InvalidPath:
        raise SecretError(f"{reference.text}: no such secret in Vault") from None
    except hvac.exceptions.VaultError as e:
        raise SecretError(f"{reference.text}: Vault answered {type(e).__name__}") from None
    except requests.RequestException as e:
        raise SecretError(f"{reference.text}: cannot reach Vault at {address}: {type(e).__name__}") from None
    data = reply.get("data", {}).get("data") if isinstance(reply, dict) else None
    if not isinstance(data, dict):
        raise SecretError(f"{reference.text}: Vault's answer has no KV v2 data")
    return pick(data, reference)


def _token(client: Any, reference: Reference, environ: Mapping[str, str]) -> str:
    """`VAULT_TOKEN`, or the token of a Kubernetes login with the service account's token."""
    role = environ.get("VAULT_K8S_ROLE")
    if not role:
        token = environ.get("VAULT_TOKEN")
        if not token:
            raise SecretError(f"{reference.text}: set VAULT_TOKEN, or VAULT_K8S_ROLE for Kubernetes auth")
        return token
    token_file = Path(environ.get("VAULT_K8S_TOKEN_FILE") or SERVICE_ACCOUNT_TOKEN)
    try:
        jwt = token_file.read_text().strip()
    except OSError as e:
        raise SecretError(
            f"{reference.text}: cannot read the service account token {token_file}: {e.strerror}"
        ) from None
    login = client.auth.kubernetes.login(
        role, jwt, use_token=False, mount_point=environ.get("VAULT_K8S_MOUNT") or "kubernetes"
    )
    return str(login["auth"]["client_token"])
