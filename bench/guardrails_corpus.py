"""The labelled PII corpus: `python -m bench.guardrails_corpus` writes tests/guardrails/data/pii_corpus.jsonl.

Each line is `{"id", "text", "spans": [{"type", "start", "end"}]}` (offsets into text, end exclusive). Valid values
(guardrails_values: checksums from python-stdnum, phone numbers from phonenumbers) are put into varied sentences,
and hard negatives that must not be found are mixed in: Luhn-invalid card numbers, Verhoeff-invalid Aadhaar numbers,
SSNs from never-issued ranges, IBANs with wrong check digits, order and tracking numbers, versions, prices, dates,
times, ISBNs, UUIDs, hashes, placeholders. Deterministic: the same seed writes the same file.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

from bench import guardrails_values as v
from bench.guardrails_negatives import NEGATIVES

Rng = random.Random
Sentence = tuple[str, list[tuple[str, int, int]]]
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "guardrails" / "data" / "pii_corpus.jsonl"
SEED = 17
PER_TYPE = 120

_FIRST = ["ana", "li", "sam", "maria", "john", "priya", "wei", "olu", "fatima", "lukas", "emma", "raj", "chen", "noah"]
_LAST = ["smith", "garcia", "kumar", "nguyen", "müller", "okafor", "rossi", "tanaka", "dubois", "patel", "brown"]
_DOMAINS = [
    "example.com",
    "mail.example.org",
    "corp.acme.io",
    "gmail.com",
    "outlook.co.uk",
    "uni-heidelberg.de",
    "startup.ai",
    "bank.example.in",
    "team.example.travel",
]

TEMPLATES: dict[str, list[str]] = {
    "EMAIL_ADDRESS": [
        "Please reply to {} when you get a chance.",
        "My email is {}.",
        "Contact: {}",
        "cc {} on the thread",
        "You can reach the billing team at {} or by post.",
        "Send the invoice to <{}> please.",
        "Her address ({}) bounced yesterday.",
        "Login: {} / forgot password",
        "From: {}\nSubject: renewal",
        "{} wrote that the build is green.",
        "email={}&plan=pro",
        "Is {} still the right inbox?",
    ],
    "PHONE_NUMBER": [
        "Call me at {} after 5pm.",
        "My phone number is {}.",
        "Mobile: {}",
        "You can text {} any time.",
        "The front desk is reachable on {} (ask for Sam).",
        "tel {} / fax none",
        "Reach our support line at {} between 9 and 5.",
        "WhatsApp me on {} if the call drops.",
        "Her cell is {}, office extension 214.",
        "If nobody answers, ring {}.",
        "Phone: {}\nEmail: n/a",
        "dial {} and press 2",
    ],
    "US_SSN": [
        "My SSN is {}.",
        "Social Security Number: {}",
        "SSN {} for the W-2 form.",
        "Applicant's ssn: {}",
        "Please verify social security no. {} before payroll runs.",
        "ss# {}",
        "The taxpayer's SSN ({}) is on file.",
        "I typed {} as my social security number, is that right?",
        "Employee SSN - {}",
        "For the background check, SSN {} and date of birth 04/12/1988.",
    ],
    "US_SSN_BARE": [
        "My SSN is {}.",
        "SSN: {}",
        "social security number {}",
        "ssn={}",
        "Taxpayer SSN {} (no dashes).",
    ],
    "CREDIT_CARD": [
        "My card number is {}.",
        "Charge it to {}, exp 09/27, CVV on the back.",
        "Visa {}",
        "card: {}",
        "Please refund the payment made with {} last week.",
        "Use {} for the hotel deposit.",
        "The Mastercard ending in the digits of {} was declined.",
        "Billing card {} expires next month.",
        "I paid with {} but got charged twice.",
        "cc {} — do not store this",
        "Card on file: {}",
        "Here is the number: {}",
        "Can you check {} for fraud?",
        "{} is the card I used.",
    ],
    "IBAN_CODE": [
        "My IBAN is {}.",
        "Please transfer the deposit to {}.",
        "IBAN: {}",
        "Beneficiary account {} (BIC on request).",
        "Send the refund to IBAN {} by Friday.",
        "Wire to {} please",
        "Our bank details: {}",
        "The payment to {} bounced.",
        "Pay into {} with reference INV-2291.",
        "{} is the account for salaries.",
    ],
    "IP_ADDRESS": [
        "The server is at {}.",
        "Requests from {} keep failing.",
        "ping {}",
        "Connect to {} on port 5432.",
        "Our office IP is {}.",
        "Blocked IP: {}",
        "ssh admin@{} is refused",
        "The client {} sent 400 requests.",
        "Add {} to the allow list.",
        "Traffic spiked from {} at noon.",
        "host = {}",
        "Is {} a private address?",
    ],
    "IN_AADHAAR": [
        "My Aadhaar number is {}.",
        "Aadhaar: {}",
        "Please link Aadhaar {} to my account.",
        "UID {} verified.",
        "Aadhaar card no. {} for KYC.",
        "I entered {} as my Aadhaar, is that right?",
        "aadhaar={}",
        "The applicant's Aadhaar ({}) is attached.",
        "Here is my aadhar {} for the SIM.",
        "{} is my Aadhaar.",
        "KYC details: {}",
        "Number on the card: {}",
    ],
    "IN_PAN": [
        "My PAN is {}.",
        "PAN: {}",
        "Please update PAN {} in the records.",
        "PAN card number {} for the ITR.",
        "The invoice lists PAN {} and GSTIN.",
        "Income tax PAN - {}",
        "I typed {} as my PAN.",
        "pan={}",
        "{} is the permanent account number on file.",
        "Vendor PAN {} verified.",
        "Use {} for TDS.",
    ],
    "US_PASSPORT": [
        "My passport number is {}.",
        "Passport: {}",
        "US passport no. {} expires in 2031.",
        "Please note passport {} for the booking.",
        "Passport # {}",
        "Traveler passport number {}",
        "The passport ({}) was issued in Boston.",
        "passport={}",
        "I renewed passport {} last year.",
    ],
    "UK_NINO": [
        "My National Insurance number is {}.",
        "NI number: {}",
        "NINO {}",
        "Please update NI no. {} on payroll.",
        "National Insurance: {}",
        "HMRC has {} on file.",
        "Employee NINO {} starts Monday.",
        "{} is my NI number.",
        "The form asks for {} in box 3.",
        "Her national insurance number ({}) is correct.",
    ],
    "API_KEY": [
        "Here is my key: {}",
        "export OPENAI_API_KEY={}",
        "I accidentally committed {} to git.",
        "The config has {} in it.",
        "Why does {} return 401?",
        "Use {} for the staging account.",
        "Authorization: Bearer {}",
        'key = "{}"',
        "Rotate {} today.",
        "{} is the token the CI uses.",
    ],
    "API_KEY_GENERIC": [
        "api_key={}",
        "API key: {}",
        "secret: {}",
        'token = "{}"',
        "client_secret: {}",
        "ACCESS_TOKEN={}",
        "my api key is {}",
        "X-API-Key: {}",
        "password={}",
        "auth_token: '{}'",
    ],
    "JWT": [
        "My token is {}.",
        "Authorization: Bearer {}",
        "The cookie holds {}",
        "jwt={}",
        "Why is {} rejected as expired?",
        "Here is the id_token: {}",
        "Decode {} for me.",
        "{}",
        "Session token {} leaked in the logs.",
    ],
    "PRIVATE_KEY": [
        "Here is the deploy key:\n{}\nkeep it safe.",
        "{}",
        "id_rsa:\n{}",
        "Can you check this key?\n{}",
        "Paste:\n\n{}\n\nthanks",
        "The server's key is below.\n{}",
    ],
}


def email(rng: Rng) -> str:
    name = rng.choice(_FIRST) + rng.choice([".", "_", "", "+work."]) + rng.choice(_LAST).replace("ü", "u")
    if rng.random() < 0.3:
        name += str(rng.randint(1, 99))
    return name + "@" + rng.choice(_DOMAINS)


def _fill(template: str, value: str, entity: str) -> Sentence:
    start = template.index("{}")
    return template.replace("{}", value, 1), [(entity, start, start + len(value))]


def positive(rng: Rng, entity: str) -> Sentence:
    """A sentence holding one valid value of `entity`."""
    if entity == "EMAIL_ADDRESS":
        return _fill(rng.choice(TEMPLATES[entity]), email(rng), entity)
    if entity == "US_SSN" and rng.random() < 0.2:
        return _fill(rng.choice(TEMPLATES["US_SSN_BARE"]), v.ssn(rng, sep=""), entity)
    if entity == "API_KEY":
        key = v.api_key(rng)
        templates = TEMPLATES["API_KEY_GENERIC" if v.api_key_is_generic(key) else "API_KEY"]
        return _fill(rng.choice(templates), key, entity)
    return _fill(rng.choice(TEMPLATES[entity]), v.VALUES[entity](rng), entity)


def join(sentences: list[Sentence]) -> Sentence:
    text = ""
    spans: list[tuple[str, int, int]] = []
    for sentence, its in sentences:
        if text:
            text += " "
        spans += [(t, s + len(text), e + len(text)) for t, s, e in its]
        text += sentence
    return text, spans


def corpus(seed: int = SEED, per_type: int = PER_TYPE) -> list[dict[str, object]]:
    rng = Rng(seed)
    sentences: list[Sentence] = [
        positive(rng, entity)
        for entity in TEMPLATES
        if entity.isupper()
        for _ in range(per_type)
        if not entity.endswith(("_BARE", "_GENERIC"))
    ]
    negatives: list[Sentence] = [(make(rng), []) for make in NEGATIVES for _ in range(12)]
    records: list[dict[str, object]] = []
    pool = sentences + negatives
    rng.shuffle(pool)
    while pool:
        take = min(len(pool), rng.choice([1, 1, 1, 2, 3]))
        text, spans = join([pool.pop() for _ in range(take)])
        records.append(
            {"id": len(records), "text": text, "spans": [{"type": t, "start": s, "end": e} for t, s, e in spans]}
        )
    return records


def write(path: Path = CORPUS, seed: int = SEED) -> int:
    records = corpus(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)


def main(argv: list[str] | None = None, make: Callable[..., int] = write) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    print(f"{make(args.out, args.seed)} texts written to {args.out}")


if __name__ == "__main__":
    main()
