"""The events of a budget threshold: `budget.threshold_crossed`, and `quota.exhausted` when the threshold is
the whole limit (100% or more). Written with the `budget_events` row, so once per budget, period and threshold
across every replica (its unique key)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from oneflow_ai.billing.budget import Budget
from oneflow_ai.events.event import Event
from oneflow_ai.pricing import decimal_str


def threshold_events(budget: Budget, row: dict[str, Any]) -> list[Event]:
    threshold = Decimal(row["threshold"])
    data = {
        "budget_id": budget.id,
        "scope": budget.scope,
        "scope_id": budget.scope_id,
        "period": budget.period,
        "period_start": row["period_start"].isoformat(),
        "limit_usd": decimal_str(budget.limit_usd),
        "spend_usd": decimal_str(Decimal(row["spend_usd"])),
        "threshold": decimal_str(threshold),
        "percent": decimal_str(threshold * 100),
    }
    tenant = budget.scope_id if budget.scope == "tenant" else None
    events = [Event("budget.threshold_crossed", tenant, data, row["created_at"])]
    if threshold >= 1:
        events.append(exhausted(budget, row["period_start"], row["created_at"], data))
    return events


def exhausted(budget: Budget, period_start: datetime, at: datetime, data: dict[str, Any] | None = None) -> Event:
    """`quota.exhausted`: the budget reached 100%, or refused a call for want of room. One event per budget and
    period, whichever replica or path reports it first (its id is made from both)."""
    key = f"quota.exhausted:{budget.id}:{period_start.isoformat()}"
    data = data or {
        "budget_id": budget.id,
        "scope": budget.scope,
        "scope_id": budget.scope_id,
        "period": budget.period,
        "period_start": period_start.isoformat(),
        "limit_usd": decimal_str(budget.limit_usd),
    }
    tenant = budget.scope_id if budget.scope == "tenant" else None
    return Event("quota.exhausted", tenant, data, at, id="evt_" + hashlib.sha256(key.encode()).hexdigest()[:32])
