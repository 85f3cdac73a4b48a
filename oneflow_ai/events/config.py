"""The `webhooks:` and `webhook_delivery:` sections of the config file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oneflow_ai.config.secrets import resolve
from oneflow_ai.config.secrets.reference import parse
from oneflow_ai.events.event import EVENT_TYPES


class WebhookConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    secret: str = Field(description="the HMAC key, by reference: env:VAR, file:/path, vault:..., aws-sm:...")
    events: tuple[str, ...] = ("*",)
    tenant: str | None = Field(None, description="only this tenant's events; none: every event")
    format: Literal["generic", "slack"] = "generic"
    allow_private: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return checked_url(v)

    @field_validator("events")
    @classmethod
    def _events(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return checked_events(v)

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str) -> str:
        if parse(v) is None:  # a malformed reference raises here too, with its own message
            raise ValueError(
                "a webhook secret is a reference (env:NAME, file:/path, vault:path#field, aws-sm:name#field), "
                "as in env:ONEFLOW_WEBHOOK_SECRET"
            )
        return v

    def resolve_secret(self, environ: Mapping[str, str]) -> str:
        """The HMAC key, read through its reference (`config.secrets`; never logged)."""
        return resolve(self.secret, environ)


class DeliverySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(8, ge=1, le=50)
    backoff_base_s: float = Field(5.0, gt=0)
    backoff_cap_s: float = Field(3600.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)
    tick_s: float = Field(1.0, gt=0)
    """How often the dispatcher looks for events and due deliveries."""
    breaker_dedup_s: float = Field(10.0, gt=0)
    retention_days: int = Field(30, ge=1)
    """Delivered events, finished jobs and the delivery log are deleted after this many days."""


def checked_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL is http(s)://host/...")
    return v


def checked_events(v: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = [e for e in v if e != "*" and e not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r} (known: {', '.join(EVENT_TYPES)}, or *)")
    if not v:
        raise ValueError("a webhook needs at least one event type (or *)")
    return tuple(v)
