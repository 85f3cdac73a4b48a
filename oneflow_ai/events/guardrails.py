"""`guardrail.blocked`: an observer of the ledger's records that reports each call a guardrail blocked (on input
or output), from the record's own fields (`guardrail`, `guardrail_action`), so the guardrails need no hook of
their own. Never a value the guardrail found: only its policy and entity types."""

from __future__ import annotations

from collections.abc import Callable

from oneflow_ai.events.event import Event
from oneflow_ai.gateway.call import Call
from oneflow_ai.gateway.stages import QuietObserver
from oneflow_ai.store.ledger import UsageRecord


class GuardrailEvents(QuietObserver):
    def __init__(self, emit: Callable[[Event], None]) -> None:
        self._emit = emit

    def recorded(self, call: Call, record: UsageRecord) -> None:
        if record.guardrail_action != "block":
            return
        data = {
            "request_id": record.request_id,
            "key_id": record.key_id,
            "user_id": record.user_id,
            "model": record.requested_model,
            "guardrail": record.guardrail,
            "status": record.status,
            "http_status": record.http_status,
        }
        self._emit(Event("guardrail.blocked", record.tenant_id, data, record.created_at))
