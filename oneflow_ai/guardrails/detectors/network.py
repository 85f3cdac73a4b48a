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
        found = []
        for start, token in _colon_tokens(text):
            m = _V6.search(token)
            if m is None or (m.start() and (token[m.start() - 1].isalnum() or token[m.start() - 1] in "_:.")):
                continue
            try:
                ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            if sum(c not in ":." for c in m.group()) >= 3:
                score = scored(text, start + m.start(), start + m.end(), 0.9, _CONTEXT, None)
                found.append(Finding("IP_ADDRESS", start + m.start(), start + m.end(), score))
        return found


_HEX_OR_COLON = frozenset("0123456789abcdefABCDEF:")
_SPACE = re.compile(r"\s")


def _colon_tokens(text: str) -> list[tuple[int, str]]:
    """(offset, token) of the whitespace-separated tokens holding at least two colons, one of them between hex
    digits or colons. Driven by the colons, so prose with a few "Note:" costs next to nothing."""
    found = []
    i = text.find(":")
    while i != -1:
        if 0 < i < len(text) - 1 and text[i - 1] in _HEX_OR_COLON and text[i + 1] in _HEX_OR_COLON:
            lo = i
            while lo > 0 and not text[lo - 1].isspace():
                lo -= 1
            space = _SPACE.search(text, i)
            hi = space.start() if space else len(text)
            if text.count(":", lo, hi) >= 2:
                found.append((lo, text[lo:hi]))
            i = text.find(":", hi)
        else:
            i = text.find(":", i + 1)
    return found
