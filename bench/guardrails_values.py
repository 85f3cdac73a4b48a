"""Values for the guardrails corpus: valid ones of each entity type (checksums computed with python-stdnum,
phone numbers validated by phonenumbers) and near misses that must not be found (a wrong check digit, a range never
issued). Each function takes the corpus's `random.Random`, so the corpus is the same for a seed."""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

import phonenumbers
from stdnum import iban, luhn, verhoeff
from stdnum.in_ import aadhaar

Rng = random.Random
B62 = string.ascii_letters + string.digits


def _digits(rng: Rng, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _b62(rng: Rng, n: int, alphabet: str = B62) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# --- cards -----------------------------------------------------------------------------------------------------------

_CARD_PREFIXES = (
    ("4", 16),
    ("4", 13),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 16),
    ("3530", 16),
    ("36", 14),
    ("62", 16),
    ("4", 19),
)


def card_digits(rng: Rng, valid: bool = True) -> str:
    prefix, length = rng.choice(_CARD_PREFIXES)
    body = prefix + _digits(rng, length - len(prefix) - 1)
    check = luhn.calc_check_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    return body + check


def format_card(rng: Rng, digits: str) -> str:
    sep = rng.choice(["", " ", " ", "-"])
    if not sep:
        return digits
    if len(digits) == 15:
        return sep.join((digits[:4], digits[4:10], digits[10:]))
    if len(digits) == 14:
        return sep.join((digits[:4], digits[4:10], digits[10:]))
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def card(rng: Rng) -> str:
    return format_card(rng, card_digits(rng))


def bad_card(rng: Rng) -> str:
    return format_card(rng, card_digits(rng, valid=False))


# --- US SSN ----------------------------------------------------------------------------------------------------------


def ssn_parts(rng: Rng) -> tuple[str, str, str]:
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"


def ssn(rng: Rng, sep: str = "-") -> str:
    return sep.join(ssn_parts(rng))


def bad_ssn(rng: Rng) -> str:
    area, group, serial = ssn_parts(rng)
    kind = rng.randrange(4)
    if kind == 0:
        area = rng.choice(["000", "666", f"9{_digits(rng, 2)}"])
    elif kind == 1:
        group = "00"
    elif kind == 2:
        serial = "0000"
    else:
        area = f"9{_digits(rng, 2)}"
    return f"{area}-{group}-{serial}"


# --- Aadhaar ---------------------------------------------------------------------------------------------------------


def aadhaar_digits(rng: Rng, valid: bool = True) -> str:
    while True:
        body = str(rng.randint(2, 9)) + _digits(rng, 10)
        check = verhoeff.calc_check_digit(body)
        if not valid:
            check = str((int(check) + rng.randint(1, 9)) % 10)
        number = body + check
        if aadhaar.is_valid(number) == valid:
            return number


def format_aadhaar(rng: Rng, digits: str) -> str:
    sep = rng.choice([" ", " ", "-", ""])
    return sep.join((digits[:4], digits[4:8], digits[8:]))


def aadhaar_number(rng: Rng) -> str:
    return format_aadhaar(rng, aadhaar_digits(rng))


def bad_aadhaar(rng: Rng) -> str:
    return format_aadhaar(rng, aadhaar_digits(rng, valid=False))


# --- IBAN ------------------------------------------------------------------------------------------------------------

_BBAN = {  # country: BBAN layout (n digits, a upper-case letters, c alphanumerics) as in the IBAN registry
    "DE": "18n",
    "GB": "4a14n",
    "FR": "10n11c2n",
    "NL": "4a10n",
    "ES": "20n",
    "IT": "1a10n12c",
    "CH": "5n12c",
    "AT": "16n",
    "BE": "12n",
    "PL": "24n",
    "SE": "20n",
    "IE": "4a14n",
    "NO": "11n",
    "DK": "14n",
    "FI": "14n",
    "PT": "21n",
    "LU": "3n13c",
    "CZ": "20n",
    "SA": "2n18c",
    "AE": "3n16n",
}


def _bban(rng: Rng, layout: str) -> str:
    out = []
    number = ""
    for ch in layout:
        if ch.isdigit():
            number += ch
            continue
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}[ch]
        out.append(_b62(rng, int(number), alphabet))
        number = ""
    return "".join(out)


def iban_compact(rng: Rng, valid: bool = True) -> str:
    while True:
        country = rng.choice(sorted(_BBAN))
        bban = _bban(rng, _BBAN[country])
        check = iban.calc_check_digits(country + "00" + bban)
        if not valid:
            check = f"{(int(check) + rng.randint(1, 40)) % 97 + 2:02d}"
        number = country + check + bban
        if iban.is_valid(number) == valid:
            return number


def format_iban(rng: Rng, compact: str) -> str:
    if rng.random() < 0.35:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def iban_code(rng: Rng) -> str:
    return format_iban(rng, iban_compact(rng))


def bad_iban(rng: Rng) -> str:
    return format_iban(rng, iban_compact(rng, valid=False))


# --- phone -----------------------------------------------------------------------------------------------------------

_PHONE_REGIONS = ("US", "US", "US", "GB", "IN", "DE", "FR", "AU", "BR", "JP", "CA", "ES", "IT", "NL", "SG", "MX", "ZA")


def phone(rng: Rng) -> str:
    """A valid number of a random region, written internationally (or nationally for the US)."""
    region = rng.choice(_PHONE_REGIONS)
    kind = rng.choice([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE])
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None, region
    national = phonenumbers.national_significant_number(example)
    number = example
    for _ in range(200):
        keep = max(3, len(national) - 4)
        candidate = national[:keep] + _digits(rng, len(national) - keep)
        parsed = phonenumbers.parse("+" + str(example.country_code) + candidate, None)
        if phonenumbers.is_valid_number(parsed):
            number = parsed
            break
    if region == "US" and rng.random() < 0.7:
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return rng.choice([text, text.replace("(", "").replace(") ", "-"), text.replace("(", "").replace(")", "")])
    form = rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164])
    return str(phonenumbers.format_number(number, form))


# --- network ---------------------------------------------------------------------------------------------------------


def ipv4(rng: Rng) -> str:
    first = rng.choice([10, 172, 192, rng.randint(1, 223)])
    return ".".join(str(x) for x in (first, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)))


def ipv6(rng: Rng) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    kind = rng.randrange(3)
    if kind == 0:
        return ":".join(groups)
    if kind == 1:
        return "2001:db8::" + ":".join(groups[:3])
    return "fe80::" + ":".join(groups[:4])


def ip_address(rng: Rng) -> str:
    return ipv4(rng) if rng.random() < 0.65 else ipv6(rng)


# --- national ids without a checksum ---------------------------------------------------------------------------------


def pan(rng: Rng) -> str:
    up = string.ascii_uppercase
    return _b62(rng, 3, up) + rng.choice("PPPPCHFATBLJG") + rng.choice(up) + _digits(rng, 4) + rng.choice(up)


def us_passport(rng: Rng) -> str:
    return _digits(rng, 9) if rng.random() < 0.5 else rng.choice("ACEFGHKLMNPRSTUVWXYZ") + _digits(rng, 8)


_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"


def uk_nino(rng: Rng) -> str:
    while True:
        prefix = rng.choice(_NINO_FIRST) + rng.choice(_NINO_SECOND)
        if prefix not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            break
    digits = _digits(rng, 6)
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return prefix + digits + suffix


def bad_nino(rng: Rng) -> str:
    prefix = rng.choice(["QQ", "BG", "GB", "ZZ", "DA", "FY", "NT", "TN"])
    return f"{prefix} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {rng.choice('ABCD')}"


# --- secrets ---------------------------------------------------------------------------------------------------------


def api_key(rng: Rng) -> str:
    kind = rng.randrange(12)
    body_alnum = _b62(rng, 40)
    if kind == 0:
        return "sk-" + _b62(rng, 20) + "T3BlbkFJ" + _b62(rng, 20)
    if kind == 1:
        return "sk-proj-" + _b62(rng, 64, B62 + "_-") + rng.choice(string.digits)
    if kind == 2:
        return "sk-ant-api03-" + _b62(rng, 93, B62 + "_-") + "AA"
    if kind == 3:
        return rng.choice(["AKIA", "ASIA"]) + _b62(rng, 16, string.ascii_uppercase + string.digits)
    if kind == 4:
        return rng.choice(["ghp_", "gho_", "ghs_"]) + _b62(rng, 36)
    if kind == 5:
        return "github_pat_" + _b62(rng, 22) + "_" + _b62(rng, 59)
    if kind == 6:
        return "glpat-" + _b62(rng, 20, B62 + "_-")
    if kind == 7:
        return f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-{_b62(rng, 24)}"
    if kind == 8:
        return rng.choice(["sk_live_", "rk_live_"]) + _b62(rng, 24)
    if kind == 9:
        return "AIza" + _b62(rng, 35, B62 + "_-")
    if kind == 10:
        return "".join(rng.choice("0123456789abcdef") for _ in range(32))  # a generic key, named by its key word
    return body_alnum


def api_key_is_generic(key: str) -> bool:
    """Whether the key has no vendor prefix, so only a key word next to it can tell it is one."""
    prefixes = ("sk-", "AKIA", "ASIA", "gh", "github_pat_", "glpat-", "xoxb-", "sk_live_", "rk_live_", "AIza")
    return not key.startswith(prefixes)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: Rng) -> str:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    if rng.random() < 0.3:
        header["kid"] = _b62(rng, 8)
    payload = {
        "sub": _digits(rng, 8),
        "name": rng.choice(["Ana", "Li", "Sam"]),
        "iat": 1700000000 + rng.randint(0, 10**7),
    }
    signature = _b64url(bytes(rng.randrange(256) for _ in range(32)))
    return ".".join((_b64url(json.dumps(header).encode()), _b64url(json.dumps(payload).encode()), signature))


def private_key(rng: Rng) -> str:
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    body = base64.b64encode(bytes(rng.randrange(256) for _ in range(rng.choice([120, 240, 480])))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"


VALUES: dict[str, Callable[[Rng], str]] = {
    "EMAIL_ADDRESS": lambda rng: "",  # written by the corpus from names and domains
    "PHONE_NUMBER": phone,
    "US_SSN": ssn,
    "CREDIT_CARD": card,
    "IBAN_CODE": iban_code,
    "IP_ADDRESS": ip_address,
    "IN_AADHAAR": aadhaar_number,
    "IN_PAN": pan,
    "US_PASSPORT": us_passport,
    "UK_NINO": uk_nino,
    "API_KEY": api_key,
    "JWT": jwt,
    "PRIVATE_KEY": private_key,
}
