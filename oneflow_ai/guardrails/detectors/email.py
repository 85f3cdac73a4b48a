"""EMAIL_ADDRESS: a local part, an @ and a domain with a dotted alphabetic top-level label.

Matched outwards from each "@" (the local part backwards, the domain forwards), so a text pays only for its @s."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from oneflow_ai.guardrails.spans import Finding

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-]|\.[A-Za-z0-9])")


def _local_start(text: str, at: int) -> int:
    """Where the local part ending at `at` starts (== at when there is none): at most 64 characters, starting and
    ending with a letter or digit."""
    if at == 0:
        return at
    start = at
    while start > 0 and at - start < 64 and text[start - 1] in _LOCAL_CHARS:
        start -= 1
    while start < at and not text[start].isalnum():
        start += 1
    if not (text[at - 1].isalnum() or text[at - 1] in "_%+-"):
        return at
    return start


@dataclass(frozen=True, slots=True)
class EmailDetector:
    name: str = "email"
    types: frozenset[str] = field(default=frozenset({"EMAIL_ADDRESS"}))
    extra: str | None = None

    def find(self, text: str) -> list[Finding]:
        found = []
        at = text.find("@")
        while at != -1:
            start = _local_start(text, at)
            domain = _DOMAIN.match(text, at + 1) if start < at else None
            if domain is not None:
                found.append(Finding("EMAIL_ADDRESS", start, domain.end(), 0.95))
            at = text.find("@", at + 1)
        return found
