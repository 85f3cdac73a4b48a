"""PHONE_NUMBER: international numbers (+ or 00 and a country code) and national ones, validated by phonenumbers
against its numbering plans. A national number is tried as a US number, and in a few more regions only next to a
word like "phone" or "call"."""

from __future__ import annotations

import re
from typing import Any

from oneflow_ai.guardrails.detectors.context import MIN_SCORE, near, scored, words
from oneflow_ai.guardrails.detectors.extras import require
from oneflow_ai.guardrails.spans import Finding

_CANDIDATE = re.compile(r"(?<![\w+\-/.,])(?:\+|00)?\(?\d[\d ().\-]{5,18}\d(?![\w\-/]|[.,]\d)")
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
    r"number",
    r"no\.?",
    r"ph",
    r"landline",
    r"helpline",
)
_NATIONAL_REGIONS = ("GB", "IN", "DE", "FR", "AU", "CA", "ES", "IT", "NL", "BR", "JP", "SG", "IE")


def _valid(candidate: str, region: str | None) -> bool:
    phonenumbers: Any = require("phonenumbers")
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


def _base_score(text: str, start: int, candidate: str) -> float:
    if candidate.count("(") != candidate.count(")") or not 7 <= sum(c.isdigit() for c in candidate) <= 15:
        return 0.0
    if candidate[0] == "+" or candidate.startswith("00"):
        return 0.8 if _valid("+" + candidate[2:] if candidate[0] == "0" else candidate, None) else 0.0
    if _valid(candidate, "US"):
        return 0.7
    end = start + len(candidate)
    if near(text, start, end, _CONTEXT) and any(_valid(candidate, region) for region in _NATIONAL_REGIONS):
        return 0.6
    return 0.0


def _longest_number(text: str, start: int, candidate: str) -> tuple[int, float] | None:
    """(length, base score) of the longest prefix of `candidate`, cut at a space, that is a valid number."""
    while True:
        base = _base_score(text, start, candidate)
        if base:
            return len(candidate), base
        cut = candidate.rfind(" ")
        if cut <= 0:
            return None
        candidate = candidate[:cut].rstrip(" (-.")


def scan(text: str, run: str, offset: int) -> list[Finding]:
    """Phone numbers in `run`, a run of digits and separators found at `offset` in `text`."""
    found = []
    pos = 0
    while m := _CANDIDATE.search(run, pos):
        start = offset + m.start()
        matched = _longest_number(text, start, m.group())
        if matched is not None:
            end = start + matched[0]
            score = scored(text, start, end, matched[1], _CONTEXT)
            if score >= MIN_SCORE:
                found.append(Finding("PHONE_NUMBER", start, end, score))
                pos = m.start() + matched[0]
                continue
        pos = m.start() + 1
    return found
