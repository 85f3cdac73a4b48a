"""JWT (three base64url parts whose header decodes to a JSON object naming its "alg") and PRIVATE_KEY (PEM blocks,
also when cut before their END line)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from oneflow_ai.guardrails.spans import Finding

_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*(?![\w-])")
_PEM = re.compile(
    r"-----BEGIN (?P<label>(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:[\s\S]*?-----END (?P=label)-----|[A-Za-z0-9+/=:\-,\s]*[A-Za-z0-9+/=])"
)


def jwt_header(token: str) -> dict[str, object] | None:
    """The decoded JSON header of a compact JWS, or None when it is not one."""
    head = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None


@dataclass(frozen=True, slots=True)
class JWTDetector:
    name: str = "jwt"
    types: frozenset[str] = field(default=frozenset({"JWT"}))
    extra: str | None = None

    def find(self, text: str) -> list[Finding]:
        if "eyJ" not in text:
            return []
        found = []
        for m in _JWT.finditer(text):
            header = jwt_header(m.group())
            if header is not None and "alg" in header:
                found.append(Finding("JWT", m.start(), m.end(), 0.95))
        return found


@dataclass(frozen=True, slots=True)
class PrivateKeyDetector:
    name: str = "private_key"
    types: frozenset[str] = field(default=frozenset({"PRIVATE_KEY"}))
    extra: str | None = None

    def find(self, text: str) -> list[Finding]:
        if "PRIVATE KEY" not in text:
            return []
        return [Finding("PRIVATE_KEY", m.start(), m.end(), 1.0) for m in _PEM.finditer(text)]
