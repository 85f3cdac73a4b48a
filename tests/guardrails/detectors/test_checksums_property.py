"""Hypothesis: numbers with a valid checksum (Luhn, Verhoeff, ISO 7064 mod 97-10) are found with exact offsets
wherever they sit in a sentence, and changing any one digit makes them disappear (each checksum catches every
single-digit error)."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban, luhn, verhoeff

from tests.guardrails.detectors.helpers import found

NETWORKS = [("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16),
            ("65", 16), ("3530", 16), ("62", 16), ("4", 19)]  # fmt: skip
LEADS = ["My card is ", "Charge ", "visa: ", "", "Refund to card "]
TAILS = [".", " please", ", thanks.", "", " (exp 09/27)"]


def _change_digit(number: str, index: int, delta: int) -> str:
    positions = [i for i, c in enumerate(number) if c.isdigit()]
    at = positions[index % len(positions)]
    return number[:at] + str((int(number[at]) + delta) % 10) + number[at + 1 :]


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix, length = draw(st.sampled_from(NETWORKS))
    body = prefix + draw(st.text(string.digits, min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1))
    digits = body + luhn.calc_check_digit(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    if not sep:
        return digits
    if length in (14, 15):
        return sep.join((digits[:4], digits[4:10], digits[10:]))
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


@settings(max_examples=300, deadline=None)
@given(cards(), st.sampled_from(LEADS), st.sampled_from(TAILS), st.integers(0, 18), st.integers(1, 9))
def test_valid_card_found_and_one_digit_changed_not(card: str, lead: str, tail: str, index: int, delta: int) -> None:
    text = lead + card + tail
    assert found(text, "CREDIT_CARD") == [(card, len(lead), len(lead) + len(card))]
    assert found(lead + _change_digit(card, index, delta) + tail, "CREDIT_CARD") == []


@st.composite
def aadhaar_numbers(draw: st.DrawFn) -> str:
    body = draw(st.sampled_from("23456789")) + draw(st.text(string.digits, min_size=10, max_size=10))
    digits = body + verhoeff.calc_check_digit(body)
    if digits == digits[::-1]:  # stdnum refuses palindromes
        digits = "2" + digits[1:-1] + verhoeff.calc_check_digit("2" + digits[1:-1])
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join((digits[:4], digits[4:8], digits[8:]))


@settings(max_examples=300, deadline=None)
@given(aadhaar_numbers(), st.integers(0, 11), st.integers(1, 9))
def test_valid_aadhaar_found_and_one_digit_changed_not(number: str, index: int, delta: int) -> None:
    lead, tail = "My Aadhaar number is ", " as on the card."
    assert found(lead + number + tail, "IN_AADHAAR") == [(number, len(lead), len(lead) + len(number))]
    assert found(lead + _change_digit(number, index, delta) + tail, "IN_AADHAAR") == []


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country, size = draw(st.sampled_from([("DE", 18), ("NL", 14), ("AT", 16), ("PL", 24), ("GB", 18)]))
    if country in ("NL", "GB"):
        letters = draw(st.text(string.ascii_uppercase, min_size=4, max_size=4))
        bban = letters + draw(st.text(string.digits, min_size=size - 4, max_size=size - 4))
    else:
        bban = draw(st.text(string.digits, min_size=size, max_size=size))
    compact = country + iban.calc_check_digits(country + "00" + bban) + bban
    if draw(st.booleans()):
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


@settings(max_examples=300, deadline=None)
@given(ibans(), st.integers(0, 30), st.integers(1, 9))
def test_valid_iban_found_and_one_digit_changed_not(number: str, index: int, delta: int) -> None:
    lead, tail = "Please wire the deposit to ", " by Friday."
    assert found(lead + number + tail, "IBAN_CODE") == [(number, len(lead), len(lead) + len(number))]
    assert found(lead + _change_digit(number, index, delta) + tail, "IBAN_CODE") == []
