"""What a webhook receives: generic JSON or a Slack-compatible message."""

from __future__ import annotations

from typing import Any

import orjson

from oneflow_ai.events.event import Event

FORMATS = ("generic", "slack")


def generic(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "tenant": event.tenant,
        "data": event.data,
    }


def summary(event: Event) -> str:
    d = event.data
    match event.type:
        case "budget.threshold_crossed":
            return (
                f"Budget {d.get('budget_id')} ({d.get('scope')} {d.get('scope_id')}) reached {d.get('percent')}% "
                f"of ${d.get('limit_usd')}"
            )
        case "quota.exhausted":
            return f"Budget {d.get('budget_id')} ({d.get('scope')} {d.get('scope_id')}) is exhausted"
        case "breaker.opened" | "breaker.closed":
            return f"Circuit breaker of {d.get('deployment_id')} {event.type.split('.')[1]}"
        case "key.created" | "key.rotated" | "key.revoked":
            return f"API key {d.get('key_id')} {event.type.split('.')[1]}"
        case _:
            return f"{event.type}: {orjson.dumps(d).decode()[:300]}"


def slack(event: Event) -> dict[str, Any]:
    tenant = f" [tenant {event.tenant}]" if event.tenant else ""
    return {"text": f":rotating_light: OneFlow {event.type}{tenant}: {summary(event)}"}


def body(event: Event, fmt: str) -> bytes:
    return orjson.dumps(slack(event) if fmt == "slack" else generic(event))
