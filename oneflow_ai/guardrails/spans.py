"""What a detector finds: a typed span of the text, and the protocol every detector follows.

Offsets index the text as Python indexes a `str` (code points), end exclusive, so `text[f.start:f.end]` is the match.
Entity type names are Presidio's (`EMAIL_ADDRESS`, `CREDIT_CARD`, ...) plus `API_KEY`, `JWT`, `PRIVATE_KEY` and
`PROMPT_INJECTION`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Finding:
    """One match: entity `type`, `text[start:end]`, and a confidence `score` in [0, 1]."""

    type: str
    start: int
    end: int
    score: float

    @property
    def length(self) -> int:
        return self.end - self.start


class Detector(Protocol):
    """Finds the spans of one or a few entity types in a text. Pure: no I/O, no state between calls."""

    @property
    def name(self) -> str: ...

    @property
    def types(self) -> frozenset[str]: ...

    def find(self, text: str) -> list[Finding]: ...


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keeps, of findings that overlap, the one with the higher score, then the longer span, then the earlier one.

    Greedy in that order, so the result never overlaps; it is sorted by start offset.
    """
    ranked = sorted(findings, key=lambda f: (-f.score, -f.length, f.start, f.type))
    kept: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= other.start or other.end <= finding.start for other in kept):
            kept.append(finding)
    kept.sort(key=lambda f: (f.start, f.end))
    return kept
