"""CREDIT_CARD, US_SSN, IN_AADHAAR, PHONE_NUMBER and IPv4 (the numbers pass): positives with exact offsets, and the
hard negatives that must not match."""

from __future__ import annotations

import pytest

from tests.guardrails.detectors.helpers import at, found

CARDS = [
    "4111 1111 1111 1111",  # Visa, spaces
    "4111-1111-1111-1111",  # hyphens
    "4111111111111111",  # plain
    "5500 0000 0000 0004",  # Mastercard
    "2221 0000 0000 0009",  # Mastercard 2-series
    "3782 822463 10005",  # Amex 4-6-5
    "6011 1111 1111 1117",  # Discover
    "3530 1113 3330 0000",  # JCB
    "3056 930902 5904",  # Diners 4-6-4
]


@pytest.mark.parametrize("card", CARDS)
def test_card_found_with_exact_offsets(card: str) -> None:
    text = f"Please charge my card {card} for the deposit."
    assert found(text, "CREDIT_CARD") == at(text, card)


@pytest.mark.parametrize(
    "text",
    [
        "Please charge my card 4111 1111 1111 1112 for the deposit.",  # Luhn fails
        "Your order number 4111111111111111 has shipped.",  # Luhn-valid, but an order number
        "Reference 9111 1111 1111 1111 2 is not a card.",  # no card network starts with 9
        "ISBN 978-3-16-148410-0 is the second edition.",
        "Request id 123e4567-e89b-12d3-a456-426614174000 failed.",
        "It costs $4,111,111,111,111,111.00 apparently.",
        "0000 0000 0000 0000",
    ],
)
def test_card_hard_negatives(text: str) -> None:
    assert found(text, "CREDIT_CARD") == []


def test_card_context_raises_score() -> None:
    from oneflow_ai.guardrails.detectors import detect

    plain = detect("4111 1111 1111 1111", frozenset({"CREDIT_CARD"}))
    with_context = detect("visa 4111 1111 1111 1111", frozenset({"CREDIT_CARD"}))
    assert plain[0].score < with_context[0].score


@pytest.mark.parametrize(
    ("text", "ssn"),
    [
        ("My SSN is 123-45-6788.", "123-45-6788"),
        ("Social Security Number: 078-05-1121", "078-05-1121"),
        ("The applicant wrote 536-22-1234 on the form.", "536-22-1234"),  # hyphens need no context
        ("ssn 536 22 1234", "536 22 1234"),
        ("Taxpayer SSN 536221234 (no dashes).", "536221234"),  # bare digits with context
    ],
)
def test_ssn_found(text: str, ssn: str) -> None:
    assert found(text, "US_SSN") == at(text, ssn)


@pytest.mark.parametrize(
    "text",
    [
        "SSN 000-12-3456",  # area 000 never issued
        "SSN 666-12-3456",  # area 666
        "SSN 912-34-5678",  # 900-999
        "SSN 123-00-4567",  # group 00
        "SSN 123-45-0000",  # serial 0000
        "SSN 078-05-1120",  # the Woolworth wallet card
        "The batch 536221234 is ready.",  # bare nine digits without context
        "Order 536-22-1234 shipped.",  # an order number
    ],
)
def test_ssn_hard_negatives(text: str) -> None:
    assert found(text, "US_SSN") == []


@pytest.mark.parametrize("aadhaar", ["2345 6789 0124", "2345-6789-0124", "234567890124"])
def test_aadhaar_found(aadhaar: str) -> None:
    text = f"My Aadhaar number is {aadhaar}."
    assert found(text, "IN_AADHAAR") == at(text, aadhaar)


@pytest.mark.parametrize(
    "text",
    [
        "My Aadhaar number is 2345 6789 0123.",  # Verhoeff fails
        "My Aadhaar number is 1345 6789 0124.",  # never starts with 0 or 1
        "Charge 6252 3549 0203 6488 please.",  # the last 12 digits of a longer number
        "Mixed 2345 6789-0124 separators",
    ],
)
def test_aadhaar_hard_negatives(text: str) -> None:
    assert found(text, "IN_AADHAAR") == []


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Call me on +44 20 7946 0958 after five.", "+44 20 7946 0958"),
        ("Mobile: +919876543210", "+919876543210"),
        ("Call (415) 555-0132 tomorrow.", "(415) 555-0132"),
        ("Reach me at 415-555-0132.", "415-555-0132"),
        ("Office +49 30 901820, ask for Lena.", "+49 30 901820"),
        ("Dial 0044 20 7946 0958.", "0044 20 7946 0958"),
        ("Phone: 020 7946 0958", "020 7946 0958"),  # a UK national number, in context
    ],
)
def test_phone_found(text: str, phone: str) -> None:
    assert found(text, "PHONE_NUMBER") == at(text, phone)


@pytest.mark.parametrize(
    "text",
    [
        "The meeting is on 2024-03-15 at 10:00.",
        "Born 15/03/1999, moved in 10.26.2011.",
        "Your order #4155550123 has shipped.",
        "Invoice 4155550123 is overdue.",
        "See ISBN 0-306-40615-2 for the original.",
        "Timestamp 1700000000 marks the start.",
        "Revenue was 4,155,550,123 dollars.",
        "The answer is 020 7946 0958.",  # a UK national number without context: not tried outside the US
        "Call me on +44 20 7946 09",  # too short for the UK plan
        "Call me, we moved in 10.26.2011.",  # dates, even next to a phone word
        "Call me about the meeting on 2024-03-15.",
        "Ring 3947 2186 0374 now",  # grouped like a card or an Aadhaar number
        "Text me the code 3947-2186-0374.",
    ],
)
def test_phone_hard_negatives(text: str) -> None:
    assert found(text, "PHONE_NUMBER") == []


@pytest.mark.parametrize("ip", ["192.168.1.10", "8.8.8.8", "10.0.0.1"])
def test_ipv4_found(ip: str) -> None:
    text = f"Requests from {ip}. keep failing"
    assert found(text, "IP_ADDRESS") == at(text, ip)


@pytest.mark.parametrize(
    "text",
    [
        "Requests from 999.168.1.10 fail",  # not an address
        "Upgrade to version 1.2.3.4 now",  # a version in context
        "Section 4.2.1.3 of the spec",
        "OID 1.3.6.1.4.1 is ours",
        "Running 1.2.3.4.5 build",
    ],
)
def test_ipv4_hard_negatives(text: str) -> None:
    assert found(text, "IP_ADDRESS") == []
