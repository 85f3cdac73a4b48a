"""The built-in detectors and `detect`, which runs them and resolves their overlaps.

Each detector is a small pure object (`spans.Detector`): a pre-compiled regular expression finds candidates, and a
checksum or a library (python-stdnum, phonenumbers, ipaddress) validates only those, so the whole set stays well under
a millisecond on a 2 KB prompt. Numeric types share one pass (`numbers`): runs of digits and separators are found
once and handed to the types their shape allows. The libraries of the `guardrails` extra are imported on first use;
`check_extras` tells at configuration time whether they are installed.

| type | detector | how |
|---|---|---|
| EMAIL_ADDRESS | email | pattern |
| PHONE_NUMBER | phone | phonenumbers validates candidates (international; national as US, other regions in context) |
| US_SSN | numbers, ssn | AAA-GG-SSSS outside never-issued ranges; bare nine digits only in context |
| CREDIT_CARD | numbers, cards | network prefix, 13-19 digits, Luhn (python-stdnum) |
| IBAN_CODE | iban | country format and mod 97 (python-stdnum) |
| IP_ADDRESS | numbers, network | IPv4 and IPv6 candidates validated by ipaddress |
| IN_AADHAAR | numbers, aadhaar | Verhoeff (python-stdnum) |
| IN_PAN, UK_NINO, US_PASSPORT | national_ids | exact formats; US_PASSPORT only in context |
| API_KEY | secrets | vendor prefixes; high-entropy values after key words |
| JWT, PRIVATE_KEY | tokens | JSON header with "alg"; PEM blocks |
| PROMPT_INJECTION | injection | weighted rules combined into a score; optional classifier |
"""

from __future__ import annotations

import re

from oneflow_ai.guardrails.detectors.email import EmailDetector
from oneflow_ai.guardrails.detectors.extras import MissingExtra, check_extra
from oneflow_ai.guardrails.detectors.iban import IBANDetector
from oneflow_ai.guardrails.detectors.injection import InjectionClassifier, InjectionDetector
from oneflow_ai.guardrails.detectors.national_ids import NINODetector, PANDetector, USPassportDetector
from oneflow_ai.guardrails.detectors.network import IPv6Detector
from oneflow_ai.guardrails.detectors.numbers import NumberDetector
from oneflow_ai.guardrails.detectors.secrets import APIKeyDetector
from oneflow_ai.guardrails.detectors.tokens import JWTDetector, PrivateKeyDetector
from oneflow_ai.guardrails.spans import Detector, Finding, resolve_overlaps

__all__ = [
    "ALL_TYPES",
    "WHOLE_TEXT_TYPES",
    "InjectionClassifier",
    "MissingExtra",
    "all_detectors",
    "check_extras",
    "detect",
    "detectors_for",
]

_DETECTORS: tuple[Detector, ...] = (
    PrivateKeyDetector(),
    JWTDetector(),
    APIKeyDetector(),
    EmailDetector(),
    NumberDetector(),
    IBANDetector(),
    PANDetector(),
    NINODetector(),
    USPassportDetector(),
    IPv6Detector(),
    InjectionDetector(),
)
_DIGIT = re.compile(r"\d")
"""A detector whose class says `needs_digit` finds nothing in a text without a digit: it is not run on one."""
WHOLE_TEXT_TYPES = frozenset({"PROMPT_INJECTION"})
"""Judgements about the text rather than values in it: they never hide, nor are hidden by, an overlapping span."""
ALL_TYPES: frozenset[str] = frozenset().union(*(d.types for d in _DETECTORS))


def all_detectors() -> tuple[Detector, ...]:
    """Every built-in detector, in a fixed order (immutable instances, shared)."""
    return _DETECTORS


def detectors_for(types: frozenset[str] | None) -> tuple[Detector, ...]:
    """The built-in detectors covering any of `types` (all when None); compute once per policy, not per call.

    A detector of several types (numbers) is narrowed to the types asked for."""
    if types is None:
        return _DETECTORS
    return tuple(
        NumberDetector(types=d.types & types) if isinstance(d, NumberDetector) else d
        for d in _DETECTORS
        if d.types & types
    )


def check_extras(detectors: tuple[Detector, ...]) -> None:
    """Raises MissingExtra, naming the extra to install, if a detector's optional library is missing."""
    for detector in detectors:
        check_extra(getattr(detector, "extra", None))


def detect(
    text: str, types: frozenset[str] | None = None, detectors: tuple[Detector, ...] | None = None
) -> list[Finding]:
    """The findings of `types` (all when None) in `text`, overlaps resolved (higher score, then longer span wins;
    PROMPT_INJECTION stands beside the others), sorted by offset. `detectors` defaults to the built-in ones covering
    `types`."""
    found: list[Finding] = []
    digit: bool | None = None
    for detector in detectors if detectors is not None else detectors_for(types):
        if getattr(detector, "needs_digit", False):
            if digit is None:
                digit = _DIGIT.search(text) is not None
            if not digit:
                continue
        found.extend(detector.find(text))
    if types is not None:
        found = [f for f in found if f.type in types]
    judgements = [f for f in found if f.type in WHOLE_TEXT_TYPES]
    if not judgements:
        return resolve_overlaps(found)
    spans = resolve_overlaps(f for f in found if f.type not in WHOLE_TEXT_TYPES)
    return sorted(spans + judgements, key=lambda f: (f.start, f.end))
