"""The `sso:` section: validated when the config is loaded, each error with its file:line; the secret by reference."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from oneflow_ai.config import ConfigError, load_config

GOOD = """\
sso:
  issuer: https://login.example.com/realms/acme
  client_id: oneflow
  client_secret: env:SSO_SECRET
  public_url: https://gateway.example.com/
  label: Keycloak
  rules:
    - {claim: groups, contains: platform-admins, tenant: acme, role: admin}
    - {claim: email_domain, equals: acme.com, tenant: acme, role: viewer}
  default: deny
"""


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None, **kw: Any) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, environ or {}, **kw)


def test_a_good_section_loads(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD, {"SSO_SECRET": "s3cret"}, require_env=True)
    sso = config.sso
    assert sso is not None
    assert sso.callback_url == "https://gateway.example.com/ui/sso/callback"
    assert [r.role for r in sso.rules] == ["admin", "viewer"]
    assert sso.scopes == ("openid", "email", "profile")
    assert sso.resolve_secret({}) == "s3cret"  # read at load, kept
    assert "s3cret" not in repr(config) and "s3cret" not in config.model_dump_json()


def test_without_sso_there_is_none(tmp_path: Path) -> None:
    assert load(tmp_path, "models: []\n").sso is None


def test_a_secret_in_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    sso = load(tmp_path, GOOD.replace("env:SSO_SECRET", f"file:{secret}")).sso
    assert sso is not None and sso.resolve_secret({}) == "from-file"


def test_an_unreadable_secret_stops_the_load_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config.yaml:4: sso.client_secret: secret not read: env:SSO_SECRET"):
        load(tmp_path, GOOD, {}, require_env=True)
    with pytest.raises(ConfigError, match=r"config.yaml:4: sso.client_secret: secret not read: file:/nope"):
        load(tmp_path, GOOD.replace("env:SSO_SECRET", "file:/nope"))


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("role: admin", "role: boss", r":8: sso.rules.0.role", "unknown role 'boss'"),
        ("contains: platform-admins, ", "", r":8: sso.rules.0", "exactly one of 'equals' or 'contains'"),
        ("equals: acme.com", "equals: acme.com, contains: x", r":9: sso.rules.1", "exactly one of"),
        ("tenant: acme, role: viewer", "tenant: 'a b', role: viewer", r":9: sso.rules.1.tenant", "pattern"),
        ("https://login.example.com", "http://login.example.com", r":2: sso.issuer", "must use https://"),
        ("client_secret: env:SSO_SECRET", "client_secret: hunter2", r":4: sso.client_secret", "is a reference"),
        ("default: deny", "default: allow", r":10: sso.default\.literal\['deny'\]", "Input should be 'deny'"),
        ("  public_url: https://gateway.example.com/\n", "", r":1: sso", "one of public_url"),
        ("  label: Keycloak", "  scopes: [email]", r":6: sso.scopes", "must include 'openid'"),
        ("  label: Keycloak", "  clientid: x", r":6: sso.clientid", "Extra inputs"),
    ],
)
def test_mistakes_are_named_with_file_and_line(tmp_path: Path, old: str, new: str, where: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError, match=rf"config.yaml{where}: .*{message}"):
        load(tmp_path, GOOD.replace(old, new))


def test_a_redirect_uri_must_be_the_callback(tmp_path: Path) -> None:
    text = GOOD.replace("public_url: https://gateway.example.com/", "redirect_uri: https://gw.example.com/cb")
    with pytest.raises(ConfigError, match=r"redirect_uri must end in /ui/sso/callback"):
        load(tmp_path, text)
    text = GOOD.replace(
        "public_url: https://gateway.example.com/", "redirect_uri: https://gw.example.com/ui/sso/callback"
    )
    sso = load(tmp_path, text).sso
    assert sso is not None and sso.callback_url == "https://gw.example.com/ui/sso/callback"


def test_plain_http_only_on_this_machine(tmp_path: Path) -> None:
    text = GOOD.replace("https://login.example.com", "http://127.0.0.1:8080").replace(
        "https://gateway.example.com/", "http://localhost:4000"
    )
    sso = load(tmp_path, text).sso
    assert sso is not None and sso.callback_url == "http://localhost:4000/ui/sso/callback"


def test_rules_that_refuse_everyone_are_refused(tmp_path: Path) -> None:
    text = GOOD.split("  rules:")[0] + "  default: deny\n"
    with pytest.raises(ConfigError, match="would refuse everyone"):
        load(tmp_path, text)
    sso = load(tmp_path, GOOD.split("  rules:")[0] + "  default: {tenant: acme, role: viewer}\n").sso
    assert sso is not None and sso.rules == ()


def test_without_the_sso_extra_the_start_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "authlib" else real(name, *a))
    with pytest.raises(ConfigError, match=r"config.yaml:1: sso: .*pip install 'oneflow-ai\[sso\]'"):
        load(tmp_path, GOOD)
