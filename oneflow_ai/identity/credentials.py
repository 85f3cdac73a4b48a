"""Random identifiers and secrets, and how secrets are stored.

Virtual keys and refresh tokens are 256-bit random strings, so a fast hash (SHA-256) is the right way to store
them: nothing is gained from a slow hash when the input cannot be guessed, and the hot path looks keys up by
that hash. Passwords, which people choose, use argon2id (`passwords.py`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_SCHEME = "sk-of-"
PREFIX_CHARS = 4
"""How much of the random part the visible prefix shows (`sk-of-ab12`)."""


def new_id(kind: str) -> str:
    """`key_3f9a…`, `usr_…`, `ten_…`: 96 random bits, typed by their prefix."""
    return f"{kind}_{secrets.token_hex(12)}"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    prefix: str
    hash: str


def new_api_key() -> NewKey:
    body = secrets.token_urlsafe(32)
    key = KEY_SCHEME + body
    return NewKey(key=key, prefix=KEY_SCHEME + body[:PREFIX_CHARS], hash=secret_hash(key))


def new_refresh_token() -> tuple[str, str]:
    """(token, its hash)."""
    token = "rt_" + secrets.token_urlsafe(32)
    return token, secret_hash(token)
