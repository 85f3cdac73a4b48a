"""API_KEY: credentials recognisable by their vendor's prefix, and high-entropy values right after a word such as
"api_key=", "secret:" or "token"."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from oneflow_ai.guardrails.spans import Finding

_VENDORS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (prefix, re.compile(pattern + r"(?![\w-])"))
    for prefix, pattern in (
        ("sk-ant-", r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{20,}"),  # Anthropic
        ("sk-", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI (a digit in the body, checked below)
        ("AKIA", r"AKIA[A-Z0-9]{16}"),  # AWS access key ids (long-term, temporary, ...)
        ("ASIA", r"ASIA[A-Z0-9]{16}"),
        ("ABIA", r"ABIA[A-Z0-9]{16}"),
        ("ACCA", r"ACCA[A-Z0-9]{16}"),
        ("gh", r"gh[pousr]_[A-Za-z0-9]{36,255}"),  # GitHub
        ("github_pat_", r"github_pat_[A-Za-z0-9_]{22,255}"),
        ("glpat-", r"glpat-[A-Za-z0-9_\-]{20,}"),  # GitLab
        ("xox", r"xox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack
        ("xapp-", r"xapp-\d-[A-Za-z0-9\-]{10,}"),
        ("k_live_", r"[sr]k_live_[A-Za-z0-9]{16,}"),  # Stripe
        ("k_test_", r"[sr]k_test_[A-Za-z0-9]{16,}"),
        ("AIza", r"AIza[A-Za-z0-9_\-]{35}"),  # Google
    )
)
"""(a literal every match contains at its start, give or take one character, the pattern)."""
_ANY_PREFIX = re.compile("|".join(re.escape(prefix) for prefix, _ in _VENDORS))
"""One scan for any vendor's prefix: most texts hold none, and then no pattern is tried."""
_KEYWORDS = ("key", "secret", "token", "passw", "pwd", "bearer", "authorization")
"""Lower-case words near which `_KEYWORD_VALUE` is tried (a window after each), instead of over the whole text."""
_KEYWORD_VALUE = re.compile(
    r"(?i)\b(?:api[_\- ]?key|apikey|x-api-key|secret(?:[_\- ]?(?:access[_\- ]?)?key)?|client[_\- ]?secret|"
    r"access[_\- ]?key(?:[_\- ]?id)?|(?:auth|access|refresh|bearer|api|session)?[_\- ]?token|password|passwd|pwd|"
    r"bearer|authorization)"
    r"[\"']?\s*(?:[:=]|=>|\bis\b)?\s*[\"']?(?:bearer\s+)?"
    r"(?P<value>[A-Za-z0-9_\-+/=.~]{16,256})"
)
_MIN_ENTROPY = 3.3


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def _is_code(text: str, m: re.Match[str], value: str) -> bool:
    """A JWT (its own type), a dotted name (`base64.urlsafe_b64encode`) or a call: code, not a secret's value."""
    end = m.start("value") + len(value)
    return value.startswith("eyJ") or bool(_DOTTED_NAME.fullmatch(value)) or text.startswith("(", end)


def _looks_random(value: str) -> bool:
    classes = (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
    return sum(classes) >= 2 and any(c.isdigit() for c in value) and entropy(value) >= _MIN_ENTROPY


@dataclass(frozen=True, slots=True)
class APIKeyDetector:
    name: str = "api_key"
    types: frozenset[str] = field(default=frozenset({"API_KEY"}))
    extra: str | None = None

    def find(self, text: str) -> list[Finding]:
        found = []
        for m in _vendor_keys(text):
            if m.group().startswith("sk-") and not any(c.isdigit() for c in m.group()[3:]):
                continue  # "sk-learn-style-words" is no key
            found.append(Finding("API_KEY", m.start(), m.end(), 0.95))
        seen: set[int] = set()
        for m in _keyword_values(text):
            value = m.group("value").rstrip(".")
            if m.start("value") not in seen and _looks_random(value) and not _is_code(text, m, value):
                seen.add(m.start("value"))
                found.append(Finding("API_KEY", m.start("value"), m.start("value") + len(value), 0.75))
        return found


def _vendor_keys(text: str) -> list[re.Match[str]]:
    """Matches of the vendors' patterns, tried only where their prefix occurs, not glued to a preceding word."""
    found: list[re.Match[str]] = []
    if _ANY_PREFIX.search(text) is None:
        return found
    taken: set[int] = set()
    for prefix, pattern in _VENDORS:
        i = text.find(prefix)
        while i != -1:
            start = i - 1 if prefix.startswith("k_") else i
            m = pattern.match(text, start) if start >= 0 else None
            if m and start not in taken and (start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "_-")):
                taken.add(start)
                found.append(m)
            i = text.find(prefix, i + 1)
    return found


def _keyword_values(text: str) -> list[re.Match[str]]:
    """`_KEYWORD_VALUE`'s matches, looked for in a window around each key word only."""
    lower = text.lower()
    if len(lower) != len(text):
        return list(_KEYWORD_VALUE.finditer(text))
    found: list[re.Match[str]] = []
    for keyword in _KEYWORDS:
        i = lower.find(keyword)
        while i != -1:
            found += _KEYWORD_VALUE.finditer(text, max(0, i - 24), i + 300)
            i = lower.find(keyword, i + len(keyword))
    return found
