"""Access tokens: HS256 only, a `kid` on every token, rotation without logging anyone out."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import jwt
import orjson
import pytest

from oneflow_ai.config import ConfigError
from oneflow_ai.errors import AuthenticationFailed
from oneflow_ai.identity.config import IdentitySettings
from oneflow_ai.identity.signing import AccessTokens, Keyring

SECRET = "s" * 48


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_token_verifies_and_names_its_user_and_session() -> None:
    tokens = AccessTokens(Keyring.from_secrets(SECRET, ()), ttl_s=900)
    claims = tokens.verify(tokens.issue("usr_1", "ses_1", time.time()), time.time())
    assert (claims.user_id, claims.session_id) == ("usr_1", "ses_1")


@pytest.mark.parametrize("forge", ["tampered", "alg_none", "expired", "unknown_kid", "other_secret", "garbage"])
def test_forged_tokens_are_refused(forge: str) -> None:
    ring = Keyring.from_secrets(SECRET, ())
    tokens = AccessTokens(ring, ttl_s=900)
    now = time.time()
    good = tokens.issue("usr_1", "ses_1", now)
    header, payload, sig = good.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    kid = ring.keys[0].kid
    token = {
        "tampered": ".".join([header, _b64(orjson.dumps({**claims, "sub": "usr_2"})), sig]),
        "alg_none": ".".join([_b64(orjson.dumps({"alg": "none", "kid": kid, "typ": "JWT"})), payload, ""]),
        "expired": jwt.encode({**claims, "exp": int(now) - 1}, SECRET.encode(), "HS256", headers={"kid": kid}),
        "unknown_kid": jwt.encode(claims, SECRET.encode(), "HS256", headers={"kid": "nope"}),
        "other_secret": jwt.encode(claims, b"o" * 48, "HS256", headers={"kid": kid}),
        "garbage": "eyJ.eyJ.x",
    }[forge]
    with pytest.raises(AuthenticationFailed):
        tokens.verify(token, now)


def test_rotation_keeps_old_tokens_valid_until_they_expire(tmp_path: Path) -> None:
    ring = Keyring.load_or_create(tmp_path)
    assert (tmp_path / "jwt_keys.json").stat().st_mode & 0o777 == 0o600
    tokens = AccessTokens(ring, ttl_s=900)
    now = time.time()
    old = tokens.issue("usr_1", "ses_1", now)
    tokens.keyring = ring.rotate(now, keep_s=900)
    new = tokens.issue("usr_1", "ses_1", now)
    assert jwt.get_unverified_header(old)["kid"] != jwt.get_unverified_header(new)["kid"]
    tokens.verify(old, now)
    assert Keyring.load_or_create(tmp_path).keys == tokens.keyring.keys  # persisted
    assert tokens.keyring.verifying(jwt.get_unverified_header(old)["kid"], now + 901, 900) is None


def test_previous_secrets_only_verify() -> None:
    old_tokens = AccessTokens(Keyring.from_secrets("o" * 48, ()), ttl_s=900)
    token = old_tokens.issue("usr_1", "ses_1", time.time())
    rotated = AccessTokens(Keyring.from_secrets(SECRET, ("o" * 48,)), ttl_s=900)
    rotated.verify(token, time.time())
    assert jwt.get_unverified_header(rotated.issue("u", "s", time.time()))["kid"] == rotated.keyring.keys[0].kid


@pytest.mark.parametrize("secret", ["secret", "changeme", "short-but-not-default"])
def test_default_or_short_secrets_are_refused_at_start_up(secret: str) -> None:
    with pytest.raises(ConfigError, match="ONEFLOW_JWT_SECRET"):
        IdentitySettings.from_env({"ONEFLOW_JWT_SECRET": secret})


def test_settings_parse_limits() -> None:
    s = IdentitySettings.from_env(
        {
            "ONEFLOW_KEY_DEFAULT_RPM": "0",
            "ONEFLOW_MODEL_RPM": "demo=5,gpt-4o=100",
            "ONEFLOW_RATE_LIMIT_FAIL_MODE": "closed",
        }
    )
    assert s.key_default_rpm is None and s.key_default_rph == 1000
    assert dict(s.model_rpm) == {"demo": 5, "gpt-4o": 100} and s.fail_mode == "closed"
    with pytest.raises(ConfigError):
        IdentitySettings.from_env({"ONEFLOW_RATE_LIMIT_FAIL_MODE": "maybe"})
