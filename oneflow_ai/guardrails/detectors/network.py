"""IP_ADDRESS: IPv4 dotted quads and IPv6 addresses (full, compressed, with an embedded IPv4), checked by ipaddress."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from oneflow_ai.guardrails.detectors.context import MIN_SCORE, scored, words
from oneflow_ai.guardrails.spans import Finding

_V4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_V6 = re.compile(
    r"(?:[0-9A-Fa-f]{1,4}:|:(?=:))(?:[0-9A-Fa-f]{0,4}:){1,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\w)"
)
_CONTEXT = words(r"ip", r"ips", r"ipv[46]", r"address", r"host", r"server", r"client", r"ping", r"connect\w*", r"from")
_NOT_IP = words(r"version", r"v", r"release", r"build", r"ver", r"firmware", r"sdk", r"api", r"oid", r"section")


def scan_v4(text: str, start: int, end: int) -> list[Finding]:
    """IPv4 addresses in text[start:end], a run of digits and separators."""
    found = []
    for m in _V4.finditer(text, start, min(len(text), end + 2)):
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        score = scored(text, m.start(), m.end(), 0.85, _CONTEXT, _NOT_IP)
        if score >= MIN_SCORE:
            found.append(Finding("IP_ADDRESS", m.start(), m.end(), score))
    return found


@dataclass(frozen=True, slots=True)
class IPv6Detector:
    """IPv6 addresses; IPv4 ones are found with the other numbers (numbers.NumberDetector)."""

    name: str = "ipv6"
    types: frozenset[str] = field(default=frozenset({"IP_ADDRESS"}))
    extra: str | None = None

    def find(self, text: str) -> list[Finding]:
        if "::" not in text and text.count(":") < 7:
            return []
        found = []
        for m in _V6.finditer(text):
            if m.start() and (text[m.start() - 1].isalnum() or text[m.start() - 1] in "_:."):
                continue
            try:
                ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            if sum(c not in ":." for c in m.group()) >= 3:
                found.append(Finding("IP_ADDRESS", m.start(), m.end(), 0.9))
        return found
