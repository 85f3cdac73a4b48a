"""US_SSN: AAA-GG-SSSS outside the ranges the SSA never issues; without separators only next to a word like "ssn"."""

from __future__ import annotations

import re

from oneflow_ai.guardrails.detectors.context import MIN_SCORE, NUM_LEFT, NUM_RIGHT, scored, words
from oneflow_ai.guardrails.spans import Finding

_CANDIDATE = re.compile(NUM_LEFT + r"(\d{3})([- ]?)(\d{2})\2(\d{4})" + NUM_RIGHT)
_CONTEXT = words(
    r"ssn",
    r"ssns",
    r"social security(?: number| no\.?)?",
    r"social sec",
    r"ss ?#",
    r"ss no",
    r"taxpayer",
    r"tin",
    r"itin",
)
_NEVER_ISSUED = frozenset({"078051120", "219099999", "123456789", "987654320"})
_BASE = {"-": 0.8, " ": 0.6, "": 0.4}
"""Hyphens are how SSNs are written; nine bare digits are an SSN only when a context word says so."""


def is_valid_ssn(area: str, group: str, serial: str) -> bool:
    """Not area 000, 666 or 900-999, group 00 or serial 0000 (never issued), nor a known advertising number."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    digits = area + group + serial
    return digits not in _NEVER_ISSUED and len(set(digits)) > 1


def scan(text: str, start: int, end: int) -> list[Finding]:
    """SSNs in text[start:end], a run of digits and separators."""
    found = []
    pos, limit = start, min(len(text), end + 2)  # two more characters for the look-ahead
    while m := _CANDIDATE.search(text, pos, limit):
        if is_valid_ssn(m.group(1), m.group(3), m.group(4)):
            score = scored(text, m.start(), m.end(), _BASE[m.group(2)], _CONTEXT)
            if score >= MIN_SCORE:
                found.append(Finding("US_SSN", m.start(), m.end(), score))
                pos = m.end()
                continue
        pos = m.start() + 1
    return found
