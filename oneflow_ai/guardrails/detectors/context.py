"""Context words around a candidate raise or lower its score, and the boundaries numeric candidates share.

A number is more likely an SSN when "ssn" is written just before it, and less likely a card when "order" or
"invoice" is. The window is measured in characters around the candidate (`BEFORE` before it, `AFTER` after it).
"""

from __future__ import annotations

import re

BEFORE = 48
AFTER = 24
BOOST = 0.15
PENALTY = 0.45
MIN_SCORE = 0.5
"""Detectors report only candidates scoring at least this much."""

NUM_LEFT = r"(?<![\w\-/.+,$€£¥₹])"
"""A numeric candidate starts after no word character, hyphen, slash, dot, plus, comma or currency sign (so not
inside a UUID, a version, or an amount)."""
NUM_RIGHT = r"(?![\w\-/%]|[.,]\d)"
"""...and ends before none of those, nor before a decimal or thousands separator followed by a digit."""

NOT_PII = re.compile(
    r"(?i)\b(?:order|orders|invoice|tracking|ref(?:erence)?|ticket|sku|isbn|version|v\d|build|serial|part|item|"
    r"model|product|batch|lot|shipment|booking|confirmation|transaction|txn|receipt|po|account|acct|customer|"
    r"timestamp|epoch|id|case|claim|policy|record|row|page|issue|pr|commit|file|job|request)\b"
)
"""Words that say a nearby number is an identifier of something else."""


def words(*alternatives: str) -> re.Pattern[str]:
    """A case-insensitive pattern matching any of the alternatives (regular expressions) as whole words."""
    return re.compile(r"(?i)\b(?:" + "|".join(alternatives) + r")\b")


def near(text: str, start: int, end: int, pattern: re.Pattern[str], before: int = BEFORE, after: int = AFTER) -> bool:
    """Whether `pattern` occurs within `before` characters before `start` or `after` characters after `end`."""
    if pattern.search(text, max(0, start - before), start):
        return True
    return after > 0 and pattern.search(text, end, min(len(text), end + after)) is not None


def scored(
    text: str,
    start: int,
    end: int,
    base: float,
    positive: re.Pattern[str] | None = None,
    negative: re.Pattern[str] | None = NOT_PII,
) -> float:
    """`base`, raised by a positive context word nearby and lowered by a negative one just before (positive wins)."""
    if positive is not None and near(text, start, end, positive):
        return round(min(1.0, base + BOOST), 3)
    if negative is not None and near(text, start, end, negative, before=32, after=0):
        return round(max(0.0, base - PENALTY), 3)
    return base
