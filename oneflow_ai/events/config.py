"""The `webhooks:` and `webhook_delivery:` sections of the config file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oneflow_ai.events.event import EVENT_TYPES


class WebhookConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    secret: str = Field(description="a reference: env:VAR (the HMAC key)")
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
        if not v.startswith("env:") or len(v) == 4:
            raise ValueError("a webhook secret is a reference, as in env:ONEFLOW_WEBHOOK_SECRET")
        return v

    def resolve_secret(self, environ: Mapping[str, str]) -> str:
        name = self.secret[4:]
        value = environ.get(name)
        if not value:
            raise ValueError(f"webhook {self.url}: the environment variable {name} is not set")
        return value


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
