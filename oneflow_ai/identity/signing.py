"""Access tokens: short-lived HS256 JWTs signed with a keyring whose keys carry a `kid`.

The newest key signs; a retired key still verifies until the tokens it signed have expired (its retirement plus
the access-token lifetime), so rotating never logs anybody out. The keyring comes from `ONEFLOW_JWT_SECRET`
(plus `ONEFLOW_JWT_PREVIOUS_SECRETS`, which only verify) or, when that is unset, from a file generated in the data
directory (`jwt_keys.json`, mode 0600), which `rotate` rewrites; every worker sharing that directory re-reads it
when it changes. Only HS256 is accepted: `alg: none`, RS/HS confusion and unknown `kid`s are all rejected before
a signature is even considered.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from oneflow_ai.errors import AuthenticationFailed

ALGORITHM = "HS256"
ISSUER = "oneflow"
AUDIENCE = "oneflow-admin"
KEY_FILE = "jwt_keys.json"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    secret: bytes
    retired_at: float | None = None


@dataclass(frozen=True, slots=True)
class Keyring:
    keys: tuple[SigningKey, ...]
    """Newest first; `keys[0]` signs."""
    path: Path | None = None
    mtime_ns: int = 0

    @classmethod
    def from_secrets(cls, current: str, previous: tuple[str, ...]) -> Keyring:
        def key(secret: str, retired: float | None) -> SigningKey:
            return SigningKey("env-" + hashlib.sha256(secret.encode()).hexdigest()[:8], secret.encode(), retired)

        return cls((key(current, None), *(key(p, float("inf")) for p in previous)))

    @classmethod
    def load_or_create(cls, data_dir: Path) -> Keyring:
        """The keyring file, created once (workers starting together agree on one: the first link wins)."""
        path = data_dir / KEY_FILE
        if not path.exists():
            tmp = cls((_new_key(),), path)._write(path.with_name(f"{KEY_FILE}.{secrets.token_hex(4)}"))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> Keyring:
        raw = orjson.loads(path.read_bytes())
        keys = tuple(
            SigningKey(k["kid"], base64.urlsafe_b64decode(k["secret"]), k.get("retired_at")) for k in raw["keys"]
        )
        return cls(keys, path, path.stat().st_mtime_ns)

    def rotate(self, now: float, keep_s: float) -> Keyring:
        """A new signing key; the old ones verify for `keep_s` more seconds, older retired keys are dropped."""
        assert self.path is not None
        kept = tuple(
            k if k.retired_at is not None else replace(k, retired_at=now)
            for k in self.keys
            if k.retired_at is None or k.retired_at + keep_s > now
        )
        os.replace(Keyring((_new_key(), *kept))._write(self.path.with_suffix(".tmp")), self.path)
        return Keyring.load(self.path)

    def fresh(self) -> Keyring:
        """This keyring, or the file's newer version (another worker rotated it)."""
        if self.path is None or self.path.stat().st_mtime_ns == self.mtime_ns:
            return self
        return Keyring.load(self.path)

    def _write(self, to: Path) -> Path:
        body = orjson.dumps(
            {
                "keys": [
                    {"kid": k.kid, "secret": base64.urlsafe_b64encode(k.secret).decode(), "retired_at": k.retired_at}
                    for k in self.keys
                ]
            }
        )
        fd = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        return to

    def verifying(self, kid: str, now: float, keep_s: float) -> SigningKey | None:
        for k in self.keys:
            if k.kid == kid and (k.retired_at is None or k.retired_at + keep_s > now):
                return k
        return None


def _new_key() -> SigningKey:
    return SigningKey("k-" + secrets.token_hex(6), secrets.token_bytes(32))


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: int


class AccessTokens:
    def __init__(self, keyring: Keyring, ttl_s: int) -> None:
        self.keyring = keyring
        self.ttl_s = ttl_s

    def issue(self, user_id: str, session_id: str, now: float) -> str:
        self.keyring = self.keyring.fresh()
        key = self.keyring.keys[0]
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "sid": session_id,
            "iat": int(now),
            "exp": int(now) + self.ttl_s,
            "jti": secrets.token_hex(8),
        }
        import jwt  # on first use (see `looks_like_jwt`)

        return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str, now: float) -> AccessClaims:
        rejected = AuthenticationFailed("The access token is invalid or has expired.", code="invalid_token")
        import jwt  # on first use (see `looks_like_jwt`)

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise rejected from None
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise rejected
        self.keyring = self.keyring.fresh()
        key = self.keyring.verifying(kid, now, self.ttl_s)
        if key is None:
            raise rejected
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "sid"]},
            )
        except jwt.InvalidTokenError:
            raise rejected from None
        sub, sid, exp = claims["sub"], claims["sid"], claims["exp"]
        if not (isinstance(sub, str) and isinstance(sid, str) and isinstance(exp, int)):
            raise rejected
        return AccessClaims(sub, sid, exp)


def looks_like_jwt(token: str) -> bool:
    """PyJWT is imported when the first token is issued or verified, not with this module: it loads
    `cryptography`'s bindings for algorithms we refuse (~11 MiB of a worker's memory), which a gateway serving
    only API keys never needs."""
    return token.startswith("eyJ") and token.count(".") == 2
