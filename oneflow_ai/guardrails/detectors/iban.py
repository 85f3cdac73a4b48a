"""IBAN_CODE: a country code, two check digits and the account (plain or in groups of four), checked by python-stdnum
(the country's length and format, ISO 7064 mod 97-10, and the national check digits where stdnum knows them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from oneflow_ai.guardrails.detectors.extras import require
from oneflow_ai.guardrails.spans import Finding

_CANDIDATE = re.compile(r"[A-Z][A-Z]\d{2}(?:(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?|[A-Z0-9]{11,30})(?!\w)")


def _longest_valid(candidate: str) -> int:
    """The length of the longest prefix of `candidate`, cut at a space, that is a valid IBAN (0 if none)."""
    is_valid = require("stdnum.iban").is_valid
    end = len(candidate)
    while end >= 15:
        if is_valid(candidate[:end]):
            return end
        end = candidate.rfind(" ", 0, end)
    return 0


@dataclass(frozen=True, slots=True)
class IBANDetector:
    needs_digit: ClassVar[bool] = True
    """Every candidate it looks for holds a digit (`detect` skips it on a text without one)."""
    name: str = "iban_code"
    types: frozenset[str] = field(default=frozenset({"IBAN_CODE"}))
    extra: str | None = "guardrails"

    def find(self, text: str) -> list[Finding]:
        found = []
        for m in _CANDIDATE.finditer(text):
            if m.start() and (text[m.start() - 1].isalnum() or text[m.start() - 1] == "_"):
                continue
            length = _longest_valid(m.group())
            if length:
                found.append(Finding("IBAN_CODE", m.start(), m.start() + length, 0.95))
        return found
