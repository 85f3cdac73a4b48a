"""Numbers: one pass over the text finds runs of digits and separators, and each run is handed only to the entity
types its shape allows (a card needs 13 digits, an IPv4 address three dots...): CREDIT_CARD, IN_AADHAAR, US_SSN,
IP_ADDRESS (v4) and PHONE_NUMBER. A phone number is looked for only where no other type matched (its validation is
the costliest)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from oneflow_ai.guardrails.detectors import aadhaar, cards, network, phone, ssn
from oneflow_ai.guardrails.spans import Finding

NUMBER_TYPES = frozenset({"CREDIT_CARD", "IN_AADHAAR", "US_SSN", "IP_ADDRESS", "PHONE_NUMBER"})

_RUN = re.compile(r"[+(]?\d[\d \-.()]{5,}\d")

Scan = Callable[[str, int, int], list[Finding]]
_SCANS: tuple[tuple[str, int, Scan], ...] = (
    ("CREDIT_CARD", 13, cards.scan),
    ("IN_AADHAAR", 12, aadhaar.scan),
    ("US_SSN", 9, ssn.scan),
)
"""(type, the fewest digits it has, its scan), phone numbers and IPv4 addresses aside. Each scan looks at one run
and checks its own boundaries against the text around it."""


@dataclass(frozen=True, slots=True)
class NumberDetector:
    needs_digit: ClassVar[bool] = True
    """Every candidate it looks for holds a digit (`detect` skips it on a text without one)."""
    name: str = "numbers"
    types: frozenset[str] = field(default=NUMBER_TYPES)
    extra: str | None = "guardrails"

    def find(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        for m in _RUN.finditer(text):
            start, end = m.span()
            digits = sum(c.isdigit() for c in m.group())
            here: list[Finding] = []
            for kind, fewest, scan in _SCANS:
                if digits >= fewest and kind in self.types:
                    here += scan(text, start, end)
            if "IP_ADDRESS" in self.types and m.group().count(".") >= 3:
                here += network.scan_v4(text, start, end)
            if "PHONE_NUMBER" in self.types and digits >= 7 and not _covered(here, end - start):
                here += phone.scan(text, start, end)
            found += here
        return found


def _covered(findings: list[Finding], length: int) -> bool:
    """Whether the findings cover the whole run but at most three characters."""
    return sum(f.end - f.start for f in findings) >= length - 3
