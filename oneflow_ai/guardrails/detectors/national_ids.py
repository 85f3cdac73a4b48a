"""Identifiers without a checksum, found by their exact format: IN_PAN, UK_NINO, and US_PASSPORT (only next to a word
like "passport", as a bare nine-digit number is far more often something else)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from oneflow_ai.guardrails.detectors.context import MIN_SCORE, near, scored, words
from oneflow_ai.guardrails.spans import Finding

_PAN = re.compile(r"[A-Z][A-Z]{2}[ABCFGHJLPT][A-Z]\d{4}[A-Z](?!\w)")
"""Five letters (the fourth the holder's kind: person, company, trust...), four digits, a letter."""
_PAN_CONTEXT = words(r"pan", r"pan card", r"permanent account", r"income tax", r"itr", r"tax id")

_NINO = re.compile(
    r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?<!BG|GB|KN|NK|NT|TN|ZZ)"
    r"(?P<sep> ?)\d{2}(?P=sep)\d{2}(?P=sep)\d{2}(?P=sep)[A-D](?!\w)"
)
"""Two prefix letters (not D, F, I, Q, U or V; no O second; never BG, GB, KN, NK, NT, TN, ZZ), six digits, A-D."""
_NINO_CONTEXT = words(r"national insurance", r"nino", r"ni number", r"ni no\.?", r"ni", r"hmrc")

_PASSPORT = re.compile(r"(?<!\w)(?:[A-Z]\d{8}|\d{9})(?!\w)")
_PASSPORT_CONTEXT = words(r"passports?", r"passport (?:no|number|#)", r"travel document")


def _starts_word(text: str, start: int) -> bool:
    return start == 0 or (not text[start - 1].isalnum() and text[start - 1] != "_")


@dataclass(frozen=True, slots=True)
class PANDetector:
    needs_digit: ClassVar[bool] = True
    """Every candidate it looks for holds a digit (`detect` skips it on a text without one)."""
    name: str = "in_pan"
    types: frozenset[str] = field(default=frozenset({"IN_PAN"}))
    extra: str | None = None

    def find(self, text: str) -> list[Finding]:
        found = []
        for m in _PAN.finditer(text):
            if _starts_word(text, m.start()):
                score = scored(text, m.start(), m.end(), 0.8, _PAN_CONTEXT)
                if score >= MIN_SCORE:
                    found.append(Finding("IN_PAN", m.start(), m.end(), score))
        return found


@dataclass(frozen=True, slots=True)
class NINODetector:
    needs_digit: ClassVar[bool] = True
    """Every candidate it looks for holds a digit (`detect` skips it on a text without one)."""
    name: str = "uk_nino"
    types: frozenset[str] = field(default=frozenset({"UK_NINO"}))
    extra: str | None = None

    def find(self, text: str) -> list[Finding]:
        found = []
        for m in _NINO.finditer(text):
            if _starts_word(text, m.start()):
                score = scored(text, m.start(), m.end(), 0.8, _NINO_CONTEXT)
                if score >= MIN_SCORE:
                    found.append(Finding("UK_NINO", m.start(), m.end(), score))
        return found


@dataclass(frozen=True, slots=True)
class USPassportDetector:
    needs_digit: ClassVar[bool] = True
    """Every candidate it looks for holds a digit (`detect` skips it on a text without one)."""
    name: str = "us_passport"
    types: frozenset[str] = field(default=frozenset({"US_PASSPORT"}))
    extra: str | None = None

    def find(self, text: str) -> list[Finding]:
        if "assport" not in text and "ASSPORT" not in text and "travel" not in text.lower():
            return []
        return [
            Finding("US_PASSPORT", m.start(), m.end(), 0.8)
            for m in _PASSPORT.finditer(text)
            if near(text, m.start(), m.end(), _PASSPORT_CONTEXT, before=40, after=0)
        ]
