"""What a call's hits lead to: a refusal that names the policies and entity types (never a value), a warning header
and log line, and the call's ledger fields. Shared by the input and output stages."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from oneflow_ai.errors import ContentBlocked
from oneflow_ai.gateway.call import Call
from oneflow_ai.guardrails.actions import Hit
from oneflow_ai.guardrails.engine import CallGuard

log = logging.getLogger("oneflow.guardrails")

WARNING_HEADER = "x-oneflow-guardrail-warning"


def judge(call: Call, guard: CallGuard, found: Sequence[Hit], where: str) -> None:
    """Note the hits on the call; raise `ContentBlocked` when one blocks. `where`: `request`, `answer`, `file`."""
    if not found or not guard.decided(found):
        _refuse_if_blocked(found, where)
        return
    call.guardrail, call.guardrail_action = guard.summary()
    warned = [h for h in found if h.rule.action == "warn"]
    if warned:
        call.response_headers[WARNING_HEADER] = warning(guard)
        log.warning(
            "guardrail warning",
            extra={"request_id": call.request_id, "guardrail": warning(guard), "where": where},
        )
    _refuse_if_blocked(found, where)


def warning(guard: CallGuard) -> str:
    return ";".join(f"{p}:{','.join(guard.types_of('warn'))}" for p in guard.policies_of("warn"))


def _refuse_if_blocked(found: Sequence[Hit], where: str) -> None:
    blocked = [h for h in found if h.rule.action == "block"]
    if not blocked:
        return
    policies = sorted({h.rule.policy for h in blocked})
    types = sorted({h.finding.type for h in blocked})
    named = ", ".join(f"'{p}'" for p in policies)
    what = {"request": "The request", "answer": "The answer", "file": "A file in the request"}[where]
    raise ContentBlocked(
        f"{what} was blocked by guardrail policy {named}: it contains {', '.join(types)}.",
        param="messages" if where != "answer" else None,
    )
