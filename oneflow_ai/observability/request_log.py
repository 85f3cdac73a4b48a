"""One log line per request, from its ledger record (`Observer.recorded`), on the `oneflow.request` logger.

With `ONEFLOW_LOG_FORMAT=json` (the default) the line is one JSON object. It carries ids, never secrets:
the key's id (`key`), not the key; no header of the request is ever logged.
"""

from __future__ import annotations

import logging

from oneflow_ai.gateway.call import Call
from oneflow_ai.gateway.stages import QuietObserver
from oneflow_ai.logs import FIELDS, direct_handler
from oneflow_ai.store.ledger import UsageRecord


class RequestLog(QuietObserver):
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("oneflow.request")

    def recorded(self, call: Call, record: UsageRecord) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        values = fields(record)
        if call.client_request_id is not None:
            values["client_request_id"] = call.client_request_id
        handler = direct_handler(self.log)
        if handler is not None:  # the usual set-up: the JSON line straight into the buffer, no `LogRecord`
            handler.emit_info(self.log.name, "request", values)
            return
        # `Logger.handle` of a record built here: `Logger.info` would also look for the caller's frame (a third
        # of its cost), which a request line does not need.
        line = logging.LogRecord(self.log.name, logging.INFO, "", 0, "request", None, None)
        setattr(line, FIELDS, values)  # text formats ignore it; `JSONFormatter` spreads it in the line
        self.log.handle(line)


def fields(r: UsageRecord) -> dict[str, object]:
    return {
        "request_id": r.request_id,
        "endpoint": r.endpoint,
        "tenant": r.tenant_id,
        "key": r.key_id,
        "user": r.user_id,
        "model": r.requested_model,
        "served_model": r.served_model,
        "provider": r.provider,
        "deployment": r.deployment_id,
        "status": r.status,
        "http_status": r.http_status,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cached_tokens": r.cached_tokens,
        "cost_usd": str(r.cost_usd),
        "credits": str(r.credits),
        "latency_ms": round(r.latency_ms, 2) if r.latency_ms is not None else None,
        "ttft_ms": round(r.ttft_ms, 2) if r.ttft_ms is not None else None,
        "attempts": r.attempts,
        "streamed": r.streamed,
    }
