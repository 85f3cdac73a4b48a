"""An event: something an operator may want to hear about, as a value."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVENT_TYPES = (
    "budget.threshold_crossed",
    "quota.exhausted",
    "breaker.opened",
    "breaker.closed",
    "key.created",
    "key.rotated",
    "key.revoked",
    "guardrail.blocked",
)

AUDITED = {"api_key.create": "key.created", "api_key.rotate": "key.rotated", "api_key.revoke": "key.revoked"}
"""Audit actions that are events too: written by `audit.record`, in the same transaction."""


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    tenant: str | None
    data: dict[str, Any]
    created_at: datetime
    id: str = field(default_factory=lambda: "evt_" + uuid.uuid4().hex)
    dedup_key: str | None = None
    """Events with one key are one event across replicas that share Redis (see `emitter`)."""

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")


def wants(types: tuple[str, ...], event_type: str) -> bool:
    """Does an endpoint subscribed to `types` want an event of `event_type`? `*` is every type."""
    return "*" in types or event_type in types
