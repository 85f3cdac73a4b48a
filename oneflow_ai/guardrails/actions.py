"""What a policy does to a text, given the findings: pure functions over values.

- `redact`: the value becomes a typed, numbered placeholder (`<EMAIL_ADDRESS_1>`); within one call the same value
  always gets the same placeholder (`Placeholders`), so the model can still tell two people apart;
- `mask`: the value becomes `****` and its last four letters or digits (`****1234`), or `****` when it is short;
- `block`, `warn`, `log` leave the text as it is: the caller refuses the call, or adds a header, or only counts.

`restore` puts the call's redacted values back where the answer repeats a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from oneflow_ai.guardrails.policy import INJECTION, Rule, Rules
from oneflow_ai.guardrails.spans import Finding

PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d+)>")
LONGEST_PLACEHOLDER = 64
"""Characters: a stream holds back a `<` this far at most while it may still become a placeholder."""


@dataclass(slots=True)
class Placeholders:
    """One call's placeholders: value -> placeholder, numbered per type, and back (`values`)."""

    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    """Placeholder -> value, for those whose rule restores them in the answer."""

    def of(self, entity: str, value: str, *, restore: bool) -> str:
        placeholder = self.by_value.get((entity, value))
        if placeholder is None:
            n = self.counts.get(entity, 0) + 1
            self.counts[entity] = n
            placeholder = f"<{entity}_{n}>"
            self.by_value[(entity, value)] = placeholder
        if restore:
            self.values[placeholder] = value
        return placeholder


@dataclass(frozen=True, slots=True)
class Hit:
    """A finding a rule acts on."""

    finding: Finding
    rule: Rule


def hits(findings: Sequence[Finding], rules: Rules) -> list[Hit]:
    """The findings the rules cover (a prompt injection only from the rules' threshold up)."""
    out: list[Hit] = []
    for f in findings:
        rule = rules.by_type.get(f.type)
        if rule is None:
            continue
        if f.type == INJECTION and rules.injection_threshold is not None and f.score < rules.injection_threshold:
            continue
        out.append(Hit(f, rule))
    return out


def rewrite(text: str, found: Sequence[Hit], placeholders: Placeholders, *, restorable: bool = True) -> str:
    """`text` with every `redact` and `mask` hit replaced (the hits do not overlap, in offset order). An answer's
    values are not `restorable`: what the output side redacts stays redacted."""
    parts: list[str] = []
    at = 0
    for hit in found:
        action = hit.rule.action
        if action not in ("redact", "mask"):
            continue
        f = hit.finding
        value = text[f.start : f.end]
        parts.append(text[at : f.start])
        parts.append(
            placeholders.of(f.type, value, restore=hit.rule.restore and restorable)
            if action == "redact"
            else mask(value)
        )
        at = f.end
    if not parts:
        return text
    parts.append(text[at:])
    return "".join(parts)


def mask(value: str) -> str:
    kept = [c for c in value if c.isalnum()]
    return "****" + "".join(kept[-4:]) if len(kept) >= 8 else "****"


def restore(text: str, placeholders: Placeholders) -> str:
    """`text` with the call's restorable placeholders replaced by their values."""
    if not placeholders.values or "<" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: placeholders.values.get(m.group(0), m.group(0)), text)
