"""The built-in policies, usable by name anywhere a policy is named (a YAML policy of the same name replaces one).

| preset | input | output |
|---|---|---|
| `default` | blocks `PRIVATE_KEY`, `PROMPT_INJECTION`; redacts the rest | redacts all but `PROMPT_INJECTION` |
| `gdpr` | redacts e-mail, phone, IP, IBAN, card, UK NINO, passport; restored in the answer | redacts the same |
| `hipaa` | blocks `US_SSN`; redacts e-mail, phone, IP, passport | redacts `US_SSN` and the same |
| `pci_dss` | redacts `CREDIT_CARD` | redacts `CREDIT_CARD` |
| `dpdp` | redacts Aadhaar, PAN, phone, e-mail; restored in the answer | redacts the same |
"""

from __future__ import annotations

from oneflow_ai.guardrails.policy import Action, Policy

PII = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "IN_AADHAAR",
    "IN_PAN",
    "US_PASSPORT",
    "UK_NINO",
)
SECRETS = ("API_KEY", "JWT", "PRIVATE_KEY")
ALL_TYPES = (*PII, *SECRETS, "PROMPT_INJECTION")


def _redact(*types: str) -> dict[str, Action]:
    return dict.fromkeys(types, "redact")


PRESETS: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy(
            name="default",
            description="Every detector: blocks private keys and prompt injection on input, redacts everything else "
            "(on output: redacts every type but prompt injection).",
            entities=_redact(*PII, *SECRETS),
            input={"PRIVATE_KEY": "block", "PROMPT_INJECTION": "block"},
        ),
        Policy(
            name="gdpr",
            description="EU personal data (GDPR): e-mail addresses, phone numbers, IP addresses, IBANs, card numbers, "
            "UK national insurance and passport numbers are redacted before the model sees them and restored in the "
            "answer for the caller; the same types in an answer are redacted.",
            entities=_redact(
                "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "IBAN_CODE", "CREDIT_CARD", "UK_NINO", "US_PASSPORT"
            ),
            restore=True,
        ),
        Policy(
            name="hipaa",
            description="US health data (HIPAA identifiers): a US social security number in a request blocks it; "
            "e-mail addresses, phone numbers, IP addresses and passport numbers are redacted both ways, and SSNs in "
            "answers are redacted.",
            entities=_redact("US_SSN", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "US_PASSPORT"),
            input={"US_SSN": "block"},
        ),
        Policy(
            name="pci_dss",
            description="Payment cards (PCI DSS): card numbers (Luhn-valid) are redacted in requests and answers.",
            entities=_redact("CREDIT_CARD"),
        ),
        Policy(
            name="dpdp",
            description="India's Digital Personal Data Protection Act: Aadhaar and PAN numbers, phone numbers and "
            "e-mail addresses are redacted before the model sees them and restored in the answer for the caller; "
            "the same types in an answer are redacted.",
            entities=_redact("IN_AADHAAR", "IN_PAN", "PHONE_NUMBER", "EMAIL_ADDRESS"),
            restore=True,
        ),
    )
}
