"""EMAIL_ADDRESS: a local part, an @ and a domain with a dotted alphabetic top-level label."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from oneflow_ai.guardrails.spans import Finding

_EMAIL = re.compile(
    r"(?<![\w.%+-])"
    r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"(?![\w-]|\.[A-Za-z0-9])"
)


@dataclass(frozen=True, slots=True)
class EmailDetector:
    name: str = "email"
    types: frozenset[str] = field(default=frozenset({"EMAIL_ADDRESS"}))

    def find(self, text: str) -> list[Finding]:
        if "@" not in text:
            return []
        return [Finding("EMAIL_ADDRESS", m.start(), m.end(), 0.95) for m in _EMAIL.finditer(text)]
