"""What a budget is, and which budgets a call or a ledger record falls under."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from oneflow_ai.billing.periods import DEFAULT_THRESHOLDS, period_start
from oneflow_ai.gateway.call import Call
from oneflow_ai.store.ledger import UsageRecord

SCOPE_COLUMNS: Mapping[str, str] = {
    "key": "key_id",
    "user": "user_id",
    "end_user": "end_user",
    "department": "department_id",
    "tenant": "tenant_id",
    "provider": "provider",
    "model": "requested_model",
}
"""Each scope and the ledger / aggregate column its id is compared with (`model` is the name the client sent)."""


@dataclass(frozen=True, slots=True)
class Budget:
    id: str
    scope: str
    scope_id: str
    period: str
    limit_usd: Decimal
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
    source: str = "api"
    """`config` (from the YAML file, read-only) or `api` (kept in the `budgets` table)."""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def slot(self, at: datetime) -> Slot:
        return Slot(self, period_start(self.period, at))


@dataclass(frozen=True, slots=True)
class Slot:
    """One budget in one period: where its spend and reservations are counted."""

    budget: Budget
    start: datetime
    key: str = field(init=False, compare=False)
    """`<budget id>:<period start as UNIX seconds>`: where the counters keep it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.budget.id}:{int(self.start.timestamp())}")


def config_budget_id(scope: str, scope_id: str, period: str) -> str:
    """A stable id for a budget written in the config file (the same on every replica and restart)."""
    return "cfg_" + hashlib.sha256(f"{scope}\0{scope_id}\0{period}".encode()).hexdigest()[:20]


def call_scopes(call: Call, provider: str | None) -> list[tuple[str, str | None]]:
    """(scope, id) pairs a call falls under before it is made; `provider` is the one expected to serve it.
    An id may be None (the call has no user, say): it matches no budget."""
    p = call.principal
    return [
        ("key", p.key_id),
        ("user", p.user_id),
        ("end_user", call.end_user),
        ("department", p.department_id),
        ("tenant", p.tenant_id),
        ("provider", provider),
        ("model", call.model),
    ]


def record_scopes(record: UsageRecord) -> list[tuple[str, str | None]]:
    """(scope, id) pairs a ledger record is charged to (the provider is the one that served it)."""
    return [
        ("key", record.key_id),
        ("user", record.user_id),
        ("end_user", record.end_user),
        ("department", record.department_id),
        ("tenant", record.tenant_id),
        ("provider", record.provider),
        ("model", record.requested_model),
    ]
