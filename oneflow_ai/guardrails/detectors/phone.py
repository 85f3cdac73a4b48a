"""PHONE_NUMBER: international numbers (+ or 00 and a country code) and national ones, validated by phonenumbers
against its numbering plans. A national number is tried as a US number (10 or 11 digits), and in a few more regions
only next to a word like "phone" or "call". Dates and numbers grouped like cards (4-4-4) are not phone numbers."""

from __future__ import annotations

import re
from typing import Any

from oneflow_ai.guardrails.detectors.context import MIN_SCORE, near, scored, words
from oneflow_ai.guardrails.detectors.extras import require
from oneflow_ai.guardrails.spans import Finding

_CANDIDATE = re.compile(r"(?<![\w+\-/.,])(?<!\d[ -])(?:\+|00)?\(?\d[\d ().\-]{5,18}\d(?![\w\-/]|[.,]\d|[ -]\d)")
_NOT_PHONE = re.compile(
    r"\d{4}[ -]\d{4}[ -]\d{4}|\d{4}-\d\d-\d\d$|\d\d?[./-]\d\d?[./-]\d{2,4}$|\d{1,3}(?:\.\d{1,3}){3}$"
)
"""Card or Aadhaar grouping, dates (2024-03-15, 15/03/2024, 10.26.2011) and IPv4 addresses."""
_CONTEXT = words(
    r"phone",
    r"tel",
    r"telephone",
    r"mobile",
    r"cell",
    r"call",
    r"called",
    r"calling",
    r"text",
    r"sms",
    r"whatsapp",
    r"fax",
    r"contact",
    r"dial",
    r"reach",
    r"ring",
    r"ph",
    r"landline",
    r"helpline",
    r"hotline",
)
_NATIONAL_REGIONS = ("GB", "IN", "DE", "FR", "AU", "CA", "ES", "IT", "NL", "BR", "JP", "SG", "IE")


def _valid(candidate: str, region: str | None) -> bool:
    phonenumbers: Any = require("phonenumbers")
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


def _base_score(text: str, start: int, end: int, candidate: str) -> float:
    digits = sum(c.isdigit() for c in candidate)
    if candidate.count("(") != candidate.count(")") or not 7 <= digits <= 15 or _NOT_PHONE.match(candidate):
        return 0.0
    if candidate[0] == "+" or candidate.startswith("00"):
        return 0.8 if _valid("+" + candidate[2:] if candidate[0] == "0" else candidate, None) else 0.0
    if digits in (10, 11) and _valid(candidate, "US"):
        return 0.7
    if digits <= 12 and near(text, start, end, _CONTEXT) and any(_valid(candidate, r) for r in _NATIONAL_REGIONS):
        return 0.6
    return 0.0


def scan(text: str, start: int, end: int) -> list[Finding]:
    """Phone numbers in text[start:end], a run of digits and separators."""
    found = []
    pos, limit = start, min(len(text), end + 2)
    while m := _CANDIDATE.search(text, pos, limit):
        base = _base_score(text, m.start(), m.end(), m.group())
        score = scored(text, m.start(), m.end(), base, _CONTEXT) if base else 0.0
        if score >= MIN_SCORE:
            found.append(Finding("PHONE_NUMBER", m.start(), m.end(), score))
            pos = m.end()
        else:
            pos = m.start() + 1
    return found
