"""The test console: what one policy does to one text, as the admin API answers it (`POST .../guardrails/test`,
and `.../scan-file` with a file's extracted text). Pure: the guardrails and the text in, the verdict out."""

from __future__ import annotations

from typing import Any

from oneflow_ai.errors import NotFound
from oneflow_ai.guardrails.actions import Placeholders, rewrite
from oneflow_ai.guardrails.engine import Guardrails
from oneflow_ai.guardrails.policy import merge, strongest


def verdict(
    guardrails: Guardrails, text: str, policy_name: str, tenant: str | None, *, is_input: bool
) -> dict[str, Any]:
    """`{"allowed", "action", "findings": [{"type", "start", "end", "score"}], "text"}`: the action is the strongest
    one taken (`allow` when none), the text as it would go on (redacted or masked; unchanged when blocked)."""
    policy = guardrails.policy(policy_name, tenant)
    if policy is None:
        raise NotFound(f"No guardrail policy named '{policy_name}'.", param="policy", code="policy_not_found")
    rules = merge([policy], "input" if is_input else "output")
    found = guardrails.scan(text, rules)
    action = strongest(h.rule.action for h in found) or "allow"
    return {
        "allowed": action != "block",
        "action": action,
        "findings": [
            {"type": h.finding.type, "start": h.finding.start, "end": h.finding.end, "score": h.finding.score}
            for h in found
        ],
        "text": text if action == "block" else rewrite(text, found, Placeholders(), restorable=False),
    }
