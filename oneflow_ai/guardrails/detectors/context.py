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

NUM_LEFT = r"(?<![\w\-/.+,$€£¥₹])(?<!\d[ -])"
"""A numeric candidate starts after no word character, hyphen, slash, dot, plus, comma or currency sign (so not
inside a UUID, a version, or an amount), nor right after another group of digits ("6252 3549 ...")."""
NUM_RIGHT = r"(?![\w\-/%]|[.,]\d|[ -]\d)"
"""...and ends before none of those, nor before a decimal separator or another group of digits."""

NOT_PII = re.compile(
    r"(?i)\b(?:order|orders|invoice|tracking|ref(?:erence)?|ticket|sku|isbn|version|v\d|build|serial|part|item|"
    r"model|product|batch|lot|shipment|booking|confirmation|transaction|txn|receipt|po|account|acct|customer|"
    r"timestamp|epoch|id|case|claim|policy|record|row|page|issue|pr|commit|job|request|license)\b"
)
"""Words that say a nearby number is an identifier of something else."""
_SENTENCE_END = re.compile(r"(?<!\bno)(?<!\bNo)(?<!\bnr)(?<!\bNr)[.!?]\s+(?=[A-Z0-9\"'(])|\n")


def words(*alternatives: str) -> re.Pattern[str]:
    """A case-insensitive pattern matching any of the alternatives (regular expressions) as whole words."""
    return re.compile(r"(?i)\b(?:" + "|".join(alternatives) + r")\b")


def _sentence(text: str, start: int, end: int, before: int, after: int) -> tuple[int, int]:
    """The window around [start, end), cut at the sentence boundaries (". " before a capital, a line break)."""
    lo, hi = max(0, start - before), min(len(text), end + after)
    for m in _SENTENCE_END.finditer(text, lo, start + 1):  # + 1: the look-ahead sees the candidate's first character
        lo = max(lo, min(m.end(), start))
    cut = _SENTENCE_END.search(text, end, hi)
    return lo, cut.start() if cut else hi


def distance(text: str, start: int, end: int, pattern: re.Pattern[str], before: int, after: int) -> int | None:
    """How many characters separate the candidate from the nearest match of `pattern` in its sentence (None: none
    within `before` characters before it or `after` characters after it)."""
    lo, hi = _sentence(text, start, end, before, after)
    best = None
    for m in pattern.finditer(text, lo, start):
        best = start - m.end()
    following = pattern.search(text, end, hi) if after > 0 else None
    if following is not None and (best is None or following.start() - end < best):
        best = following.start() - end
    return best


def near(text: str, start: int, end: int, pattern: re.Pattern[str], before: int = BEFORE, after: int = AFTER) -> bool:
    """Whether `pattern` occurs in the candidate's sentence, within `before` characters before it or `after` after."""
    return distance(text, start, end, pattern, before, after) is not None


def scored(
    text: str,
    start: int,
    end: int,
    base: float,
    positive: re.Pattern[str] | None = None,
    negative: re.Pattern[str] | None = NOT_PII,
) -> float:
    """`base`, raised by a positive context word in the sentence and lowered by a negative one just before it (the
    nearer of the two decides: "call me, order #4155550123" is an order number)."""
    pos = distance(text, start, end, positive, BEFORE, AFTER) if positive is not None else None
    neg = distance(text, start, end, negative, 32, 0) if negative is not None else None
    if neg is not None and (pos is None or neg < pos):
        return round(max(0.0, base - PENALTY), 3)
    if pos is not None:
        return round(min(1.0, base + BOOST), 3)
    return base
