"""Hard negatives for the guardrails corpus: sentences that look like PII or secrets and are not, each made by a
function of the corpus's `random.Random`. None of them may be found by a detector."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable

from bench import guardrails_values as v

Rng = random.Random


def _d(rng: Rng, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _isbn13(rng: Rng) -> str:
    body = "978" + _d(rng, 9)
    check = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body)) % 10) % 10
    digits = body + str(check)
    return f"{digits[:3]}-{digits[3]}-{digits[4:7]}-{digits[7:12]}-{digits[12]}" if rng.random() < 0.6 else digits


def _isbn10(rng: Rng) -> str:
    body = _d(rng, 9)
    check = (11 - sum(int(c) * (10 - i) for i, c in enumerate(body)) % 11) % 11
    digits = body + ("X" if check == 10 else str(check))
    return f"{digits[0]}-{digits[1:4]}-{digits[4:9]}-{digits[9]}"


NEGATIVES: tuple[Callable[[Rng], str], ...] = (
    lambda rng: f"My card number is {v.bad_card(rng)}, is that a valid one?",
    lambda rng: f"Charge {v.bad_card(rng)} please (I think I mistyped a digit).",
    lambda rng: f"Aadhaar {v.bad_aadhaar(rng)} was rejected by the portal.",
    lambda rng: f"The form says {v.bad_aadhaar(rng)} is not a valid Aadhaar number.",
    lambda rng: f"SSN {v.bad_ssn(rng)} was never issued, the validator says.",
    lambda rng: f"IBAN {v.bad_iban(rng)} fails the check digits.",
    lambda rng: f"{v.bad_nino(rng)} is the example NINO format in the HMRC leaflet.",
    lambda rng: f"Your order #{_d(rng, rng.choice([8, 10, 12]))} has shipped.",
    lambda rng: f"Order number {_d(rng, 4)}-{_d(rng, 4)}-{_d(rng, 4)} is out for delivery.",
    lambda rng: f"Tracking: 1Z{_d(rng, 3)}AA{_d(rng, 10)}",
    lambda rng: f"Invoice {_d(rng, 10)} is overdue by 14 days.",
    lambda rng: f"Ticket {_d(rng, 9)} was closed by support.",
    lambda rng: f"Upgrade to version {rng.randint(1, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 99)} before Friday.",
    lambda rng: f"Running v{rng.randint(1, 4)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.",
    lambda rng: f"Windows build 10.0.{_d(rng, 5)}.{_d(rng, 4)} has the bug.",
    lambda rng: (
        f"The firmware version {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)} "
        "is the latest."
    ),
    lambda rng: f"It costs ${rng.randint(1, 9)},{_d(rng, 3)}.{_d(rng, 2)} plus tax.",
    lambda rng: f"The budget is ₹{rng.randint(1, 99)},{_d(rng, 2)},{_d(rng, 3)} for the quarter.",
    lambda rng: f"Revenue grew to {rng.randint(100, 999)},{_d(rng, 3)},{_d(rng, 3)} dollars.",
    lambda rng: f"Total: €{rng.randint(10, 9999)}.{_d(rng, 2)} (incl. VAT)",
    lambda rng: (
        f"The meeting is on {rng.randint(2019, 2027)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} at "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}."
    ),
    lambda rng: (
        f"Born {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 2010)}, moved in "
        f"{rng.randint(1, 12):02d}.{rng.randint(1, 28):02d}.{rng.randint(1990, 2024)}."
    ),
    lambda rng: f"ISBN {_isbn13(rng)} is the second edition.",
    lambda rng: f"See ISBN {_isbn10(rng)} for the original.",
    lambda rng: f"Request id {uuid.UUID(int=rng.getrandbits(128), version=4)} failed.",
    lambda rng: f"commit {''.join(rng.choice('0123456789abcdef') for _ in range(40))} fixed it",
    lambda rng: f"The sha256 is {''.join(rng.choice('0123456789abcdef') for _ in range(64))}.",
    lambda rng: f"Population: {rng.randint(1, 9)},{_d(rng, 3)},{_d(rng, 3)} people in {rng.randint(1990, 2024)}.",
    lambda rng: f"Coordinates {rng.uniform(-80, 80):.6f}, {rng.uniform(-170, 170):.6f} are the site.",
    lambda rng: f"Timestamp {rng.randint(1600000000, 1800000000)} marks the start.",
    lambda rng: f"The ZIP code is {_d(rng, 5)} and the extension is {_d(rng, 4)}.",
    lambda rng: "Use the placeholder api_key=YOUR_API_KEY_HERE in the docs.",
    lambda rng: rng.choice(
        [
            "The token limit is 4096 tokens per request.",
            "Set max_tokens to 512.",
            "Password must be at least 12 characters long.",
            "Our secret sauce is good docs.",
            "Rotate the API key every 90 days.",
            "pip install scikit-learn (sk-learn) first",
            "Generate a new secret key in the dashboard.",
            "The token expired, please log in again.",
        ]
    ),
    lambda rng: (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + _d(rng, 20) + "\n-----END PUBLIC KEY-----"
    ),
    lambda rng: f"The MAC address is {':'.join(f'{rng.randrange(256):02x}' for _ in range(6))}.",
    lambda rng: f"Use std::vector<int> and call v.at({rng.randint(1, 9)}) at {rng.randint(1, 12)}:30.",
    lambda rng: f"Part number AB-{_d(rng, 6)}-{rng.choice('XYZ')} is back-ordered.",
    lambda rng: f"Section 4.2.{rng.randint(1, 9)}.{rng.randint(1, 9)} of the spec covers it.",
    lambda rng: f"The score was {rng.randint(1, 99)}-{rng.randint(1, 99)} and {_d(rng, 3)} fans came.",
    lambda rng: f"Room {_d(rng, 3)}, floor {rng.randint(1, 30)}, badge {_d(rng, 6)}.",
    lambda rng: f"Account id {_d(rng, 12)} in the billing export.",
    lambda rng: f"{_d(rng, 3)}-{_d(rng, 3)}-{_d(rng, 3)}-{_d(rng, 3)} is the license code.",
    lambda rng: f"OID 1.3.6.1.4.1.{_d(rng, 5)}.1 is ours.",
    lambda rng: (
        f"Product code {rng.choice(string.ascii_uppercase)}{rng.choice(string.ascii_uppercase)}{_d(rng, 6)} "
        "is discontinued."
    ),
)
"""Each function writes one hard-negative sentence."""
