"""Authenticating a request to the `/v1` API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `amount` requests (or tokens) per `period_s` for one subject, e.g. `key:key_123`."""

    subject: str
    kind: Literal["requests", "tokens"]
    amount: int
    period_s: int


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as the rest of the pipeline sees it.

    `is_admin` with no `tenant_id` is the superuser (the master key). Virtual keys and users carry a `role`
    (owner, admin, member, viewer), the models they may call (`allowed_models`, None = all) and their `limits`.
    """

    key_id: str
    is_admin: bool = False
    user_id: str | None = None
    department_id: str | None = None
    tenant_id: str | None = None
    role: str | None = None
    allowed_models: frozenset[str] | None = None
    limits: tuple[Limit, ...] = ()
    budget_id: str | None = None
    """A virtual key's `budget_id`: the budget its calls are held against and charged to, besides those of
    their scopes."""
    guardrails: tuple[str, ...] = ()
    """The guardrail policies its tenant's and its key's settings name, applied to its calls (`guardrails`)."""


MASTER = Principal(key_id="master", is_admin=True)


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """`Authorization: Bearer <key>` or `x-api-key: <key>` (the Anthropic SDK's header)."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return x_api_key or None


class Authenticator(Protocol):
    async def authenticate(self, authorization: str | None, x_api_key: str | None) -> Principal: ...
