"""The built-in detectors and `detect`, which runs them and resolves their overlaps.

Each detector is a small pure object (`spans.Detector`): a pre-compiled regular expression finds candidates, and a
checksum or a library (python-stdnum, phonenumbers, ipaddress) validates only those, so the whole set stays well under
a millisecond on a 2 KB prompt. Optional libraries are imported on first use.
"""

from __future__ import annotations

from oneflow_ai.guardrails.detectors.email import EmailDetector
from oneflow_ai.guardrails.spans import Detector, Finding, resolve_overlaps


def all_detectors() -> tuple[Detector, ...]:
    """Every built-in detector, in a fixed order."""
    return (EmailDetector(),)


def detect(
    text: str, types: frozenset[str] | None = None, detectors: tuple[Detector, ...] | None = None
) -> list[Finding]:
    """The findings of the detectors covering `types` (all when None), overlaps resolved, sorted by offset."""
    found: list[Finding] = []
    for detector in detectors if detectors is not None else all_detectors():
        if types is not None and not (detector.types & types):
            continue
        found.extend(f for f in detector.find(text) if types is None or f.type in types)
    return resolve_overlaps(found)
