"""IN_AADHAAR: 12 digits (plain or grouped 4-4-4), not starting with 0 or 1, with a valid Verhoeff check digit."""

from __future__ import annotations

import re

from oneflow_ai.guardrails.detectors.context import MIN_SCORE, NUM_LEFT, NUM_RIGHT, scored, words
from oneflow_ai.guardrails.detectors.extras import require
from oneflow_ai.guardrails.spans import Finding

_CANDIDATE = re.compile(NUM_LEFT + r"[2-9]\d{3}([ -]?)\d{4}\1\d{4}" + NUM_RIGHT)
_CONTEXT = words(r"aadhaa?r", r"adhaa?r", r"uidai", r"uid", r"aadhaar card", r"enrol(?:l?ment)?")


def scan(text: str, start: int, end: int) -> list[Finding]:
    """Aadhaar numbers in text[start:end], a run of digits and separators."""
    is_valid = require("stdnum.in_.aadhaar").is_valid
    found = []
    pos, limit = start, min(len(text), end + 2)  # two more characters for the look-ahead
    while m := _CANDIDATE.search(text, pos, limit):
        score = scored(text, m.start(), m.end(), 0.8, _CONTEXT)
        if score >= MIN_SCORE and is_valid(m.group().replace(" ", "").replace("-", "")):
            found.append(Finding("IN_AADHAAR", m.start(), m.end(), score))
            pos = m.end()
        else:
            pos = m.start() + 1
    return found
