"""CREDIT_CARD: 13 to 19 digits (plain, or grouped by spaces or hyphens), a card network's prefix, and Luhn."""

from __future__ import annotations

import re

from oneflow_ai.guardrails.detectors.context import MIN_SCORE, NUM_LEFT, NUM_RIGHT, scored, words
from oneflow_ai.guardrails.detectors.extras import require
from oneflow_ai.guardrails.spans import Finding

_CANDIDATE = re.compile(
    NUM_LEFT
    + r"(?:\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?P=sep)\d{1,4}(?:(?P=sep)\d{1,3})?"  # 4-4-4-4 (13 to 19 digits)
    + r"|\d{4}(?P<sep2>[ -])\d{6}(?P=sep2)\d{4,5}"  # Amex 4-6-5, Diners 4-6-4
    + r"|\d{13,19})"
    + NUM_RIGHT
)
_NETWORK = re.compile(r"4|5[0-8]|2[2-7]|3[0-9]|6[0-9]")
"""Visa, Mastercard (51-55, 2221-2720), Maestro, Amex, Diners, JCB, Discover, UnionPay, RuPay."""
_CONTEXT = words(
    r"cards?", r"credit", r"debit", r"visa", r"master ?card", r"amex", r"american express", r"discover", r"cc",
    r"payment", r"pay", r"paid", r"cvv", r"cvc", r"expir\w*", r"charged?", r"billing", r"pan", r"jcb", r"diners",
    r"maestro", r"rupay", r"unionpay",
)  # fmt: skip


def is_card_number(digits: str) -> bool:
    """A card network's prefix, a length of 13 to 19 digits, and a valid Luhn check digit."""
    if not 13 <= len(digits) <= 19 or not _NETWORK.match(digits) or len(set(digits)) == 1:
        return False
    return bool(require("stdnum.luhn").is_valid(digits))


def scan(text: str, start: int, end: int) -> list[Finding]:
    """Card numbers in text[start:end], a run of digits and separators."""
    found = []
    pos, limit = start, min(len(text), end + 2)  # two more characters for the look-ahead
    while m := _CANDIDATE.search(text, pos, limit):
        if is_card_number(m.group().replace(" ", "").replace("-", "")):
            score = scored(text, m.start(), m.end(), 0.9, _CONTEXT)
            if score >= MIN_SCORE:
                found.append(Finding("CREDIT_CARD", m.start(), m.end(), score))
                pos = m.end()
                continue
        pos = m.start() + 1
    return found
