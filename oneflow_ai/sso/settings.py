"""The `sso:` section of the config file: the OpenID Connect provider, this gateway's client, and the claim rules.

```yaml
sso:
  issuer: https://login.example.com/realms/acme
  client_id: oneflow
  client_secret: env:ONEFLOW_SSO_CLIENT_SECRET
  public_url: https://gateway.example.com        # or redirect_uri: https://gateway.example.com/ui/sso/callback
  rules:
    - {claim: groups, contains: platform-admins, tenant: acme, role: admin}
    - {claim: email_domain, equals: acme.com, tenant: acme, role: viewer}
  default: deny
```

Validated when the file is loaded (each error with its `file:line`); the client secret is a reference, read at load.
A configured `sso:` without Authlib installed stops the start with the extra to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from oneflow_ai.config.matching import Matching
from oneflow_ai.config.secrets import parse as parse_reference
from oneflow_ai.config.secrets import resolve as resolve_secret
from oneflow_ai.identity.roles import ROLES

CALLBACK_PATH = "/ui/sso/callback"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Grant(_Frozen):
    """Where a signed-in user goes: a tenant (its id) and a role in it."""

    tenant: Annotated[str, Field(min_length=1, max_length=64), Matching(r"^[A-Za-z0-9_\-]+$")]
    role: str

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        if v not in ROLES:
            raise ValueError(f"unknown role {v!r}; known: {', '.join(ROLES)}")
        return v


class ClaimRule(Grant):
    """`claim` (a claim name, or a dotted path into nested claims such as `realm_access.roles`; `email_domain` is
    the domain of a verified `email`) `equals` a value, or `contains` one (a list claim holding it)."""

    claim: str = Field(min_length=1)
    equals: str | int | bool | None = None
    contains: str | int | None = None

    @model_validator(mode="after")
    def _one_test(self) -> ClaimRule:
        if (self.equals is None) == (self.contains is None):
            raise ValueError("a rule needs exactly one of 'equals' or 'contains'")
        return self


class SSOSettings(_Frozen):
    issuer: str = Field(max_length=512, description="the provider's issuer URL, exactly as its ID tokens name it")
    client_id: str = Field(min_length=1)
    client_secret: str | None = Field(
        None, description="a reference (env:VAR, file:/path, vault:..., aws-sm:...); none for a public client"
    )
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    public_url: str | None = Field(None, description="the gateway's public base URL; the callback is under it")
    redirect_uri: str | None = Field(None, description="the callback URL registered at the provider")
    label: str = Field("SSO", min_length=1, max_length=40, description="the provider's name on the sign-in button")
    rules: tuple[ClaimRule, ...] = ()
    default: Literal["deny"] | Grant = "deny"
    """Where a user no rule matches goes: `deny` (refused), or a tenant and role."""
    userinfo: bool = True
    """Merge the provider's userinfo claims (when it has the endpoint) into the ID token's before the rules."""
    trust_unverified_email: bool = False
    """`email_domain` (and the account's e-mail) only from an `email` with `email_verified: true`, unless set."""
    timeout_s: float = Field(10.0, gt=0, le=60)
    _secret: str | None = PrivateAttr(None)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, v: str) -> str:
        return _web_url(v, "issuer")

    @field_validator("public_url", "redirect_uri")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return None if v is None else _web_url(v, "url")

    @field_validator("client_secret")
    @classmethod
    def _secret_reference(cls, v: str | None) -> str | None:
        if v is not None and parse_reference(v) is None:
            raise ValueError(
                "client_secret is a reference (env:NAME, file:/path, vault:path#field, aws-sm:name#field), "
                "as in env:ONEFLOW_SSO_CLIENT_SECRET"
            )
        return v

    @field_validator("scopes")
    @classmethod
    def _openid(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in v:
            raise ValueError("scopes must include 'openid'")
        return v

    @model_validator(mode="after")
    def _complete(self) -> SSOSettings:
        if (self.public_url is None) == (self.redirect_uri is None):
            raise ValueError(f"give one of public_url (the callback is <public_url>{CALLBACK_PATH}) or redirect_uri")
        if self.redirect_uri is not None and urlsplit(self.redirect_uri).path != CALLBACK_PATH:
            raise ValueError(f"redirect_uri must end in {CALLBACK_PATH}, the gateway's callback")
        if not self.rules and self.default == "deny":
            raise ValueError("no rules and default: deny would refuse everyone; add rules (or a default grant)")
        if importlib.util.find_spec("authlib") is None or importlib.util.find_spec("httpx") is None:
            raise ValueError("sso needs the sso extra: pip install 'oneflow-ai[sso]'")
        return self

    @property
    def callback_url(self) -> str:
        return self.redirect_uri or f"{(self.public_url or '').rstrip('/')}{CALLBACK_PATH}"

    def keep_secret(self, value: str) -> None:
        """Hold the client secret `client_secret` refers to, read at load (never shown)."""
        self._secret = value

    def resolve_secret(self, environ: Mapping[str, str]) -> str | None:
        if self._secret is None and self.client_secret is not None:
            self._secret = resolve_secret(self.client_secret, environ)
        return self._secret


def _web_url(v: str, what: str) -> str:
    """An https URL; plain http only on this machine (a provider in a test, a gateway on a laptop)."""
    parts = urlsplit(v)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"the {what} must be an https:// URL, got {v!r}")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"the {what} must use https:// (plain http only for localhost), got {v!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the {what} must have no query or fragment")
    return v.rstrip("/") if what == "url" else v
