"""IBAN_CODE, IN_PAN, UK_NINO, US_PASSPORT, IPv6 and EMAIL_ADDRESS: positives with exact offsets, hard negatives."""

from __future__ import annotations

import pytest

from tests.guardrails.detectors.helpers import at, found


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "FR14 2004 1010 0505 0001 3M02 606",
    ],
)
def test_iban_found(iban: str) -> None:
    text = f"Please transfer the deposit to {iban}."
    assert found(text, "IBAN_CODE") == at(text, iban)


@pytest.mark.parametrize(
    ("text", "iban"),
    [
        ("IBAN DE89 3704 0044 0532 0130 00 THEN the rest", "DE89 3704 0044 0532 0130 00"),
        ("IBAN BE71 0961 2345 6769 THEN the rest", "BE71 0961 2345 6769"),  # 16 characters: THEN looks like a group
        ("IBAN BE71 0961 2345 6769 AB 12", "BE71 0961 2345 6769"),
    ],
)
def test_iban_stops_before_following_capitals(text: str, iban: str) -> None:
    assert found(text, "IBAN_CODE") == at(text, iban)


@pytest.mark.parametrize(
    "text",
    [
        "IBAN DE88 3704 0044 0532 0130 00",  # check digits wrong
        "IBAN DE89 3704 0044 0532 0130 01",  # one digit changed
        "IBAN XX89 3704 0044 0532 0130 00",  # no such country
        "ABCD12345678901234",
    ],
)
def test_iban_hard_negatives(text: str) -> None:
    assert found(text, "IBAN_CODE") == []


@pytest.mark.parametrize("text", ["My PAN is ABCPE1234F.", "PAN: AAACB2894G", "Use BNZPM2501F for TDS."])
def test_pan_found(text: str) -> None:
    value = next(word.strip(".:") for word in text.split() if len(word.strip(".:")) == 10 and word[0].isupper())
    assert found(text, "IN_PAN") == at(text, value)


@pytest.mark.parametrize("text", ["Code ABCXE1234F", "ABCPE1234FX", "abcpe1234f", "Order ABCPE1234F shipped"])
def test_pan_hard_negatives(text: str) -> None:
    # the fourth letter says the holder's kind (X is none); glued letters; lower case; an order code
    assert found(text, "IN_PAN") == []


@pytest.mark.parametrize("nino", ["AB 12 34 56 C", "AB123456C", "JG103759A"])
def test_nino_found(nino: str) -> None:
    text = f"My National Insurance number is {nino}."
    assert found(text, "UK_NINO") == at(text, nino)


@pytest.mark.parametrize(
    "text",
    ["NI QQ 12 34 56 C", "NI GB 12 34 56 C", "NI BG123456A", "NI AB 12 34 56 E", "NI DA123456A", "NI AB 1234 56 C"],
)
def test_nino_hard_negatives(text: str) -> None:
    # Q, D first letters never used; GB, BG never; suffix only A-D; spacing must be consistent
    assert found(text, "UK_NINO") == []


@pytest.mark.parametrize("passport", ["123456789", "A12345678"])
def test_passport_found_in_context(passport: str) -> None:
    text = f"My passport number is {passport}, issued in Boston."
    assert found(text, "US_PASSPORT") == at(text, passport)


@pytest.mark.parametrize(
    "text",
    [
        "The batch 123456789 and A12345678 are ready.",
        "Passport office hours are nine to five on weekdays, and the batch 123456789 is ready.",  # too far
    ],
)
def test_passport_needs_context(text: str) -> None:
    assert found(text, "US_PASSPORT") == []


@pytest.mark.parametrize(
    "ip",
    [
        "2001:db8::8a2e:370:7334",
        "fe80::1ff:fe23:4567:890a",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "::ffff:192.0.2.1",
    ],
)
def test_ipv6_found(ip: str) -> None:
    text = f"Connect to {ip}. Then retry."
    assert found(text, "IP_ADDRESS") == at(text, ip)


@pytest.mark.parametrize(
    "text",
    ["At 12:30:45 we left", "MAC 00:1a:2b:3c:4d:5e", "Use std::vector<int>", "a::b", "Note: see::here", "ratio 1:2:3"],
)
def test_ipv6_hard_negatives(text: str) -> None:
    assert found(text, "IP_ADDRESS") == []


@pytest.mark.parametrize(
    "email", ["john.doe@example.com", "ana+work@mail.example.org", "o'neil@x.io"[2:], "a_b-c@uni-heidelberg.de"]
)
def test_email_found(email: str) -> None:
    text = f"Write to <{email}>, please."
    assert found(text, "EMAIL_ADDRESS") == at(text, email)


@pytest.mark.parametrize(
    "text", ["user@localhost is not routable", "@mention someone", "a@b", "x@y.z", "me@.example.com", "@@example.com"]
)
def test_email_hard_negatives(text: str) -> None:
    assert found(text, "EMAIL_ADDRESS") == []
