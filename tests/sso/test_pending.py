"""The pending sign-in's cookie: it round-trips, and a forged, expired or foreign one is refused."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from oneflow_ai.errors import SignOnFailed
from oneflow_ai.identity.signing import AccessTokens, Keyring
from oneflow_ai.sso.pending import TTL_S, Pending, seal, unseal

PENDING = Pending(state="s" * 43, nonce="n" * 43, code_verifier="v" * 64, next="/ui/keys")


def ring() -> Keyring:
    return Keyring.from_secrets("a-test-secret-of-enough-length-0123456789", ())


def test_a_sealed_sign_in_comes_back() -> None:
    now = time.time()
    assert unseal(seal(PENDING, ring(), now), ring(), now) == PENDING


def test_a_rotated_keyring_still_opens_a_cookie_sealed_before(tmp_path: Path) -> None:
    now = time.time()
    old = Keyring.load_or_create(tmp_path)
    cookie = seal(PENDING, old, now)
    assert unseal(cookie, old.rotate(now, TTL_S), now) == PENDING


def test_missing_forged_expired_or_foreign_cookies_are_refused() -> None:
    now = time.time()
    good = seal(PENDING, ring(), now)
    header, payload, signature = good.split(".")
    other = Keyring.from_secrets("another-secret-of-enough-length-0123456789", ())
    forged_state = jwt.encode(
        {"aud": "oneflow-sso-pending", "exp": int(now) + 60, "state": "x", "nonce": "y", "cv": "z"},
        "guess",
        algorithm="HS256",
        headers={"kid": ring().keys[0].kid},
    )
    access_token = AccessTokens(ring(), 900).issue("usr_1", "ses_1", now)  # the same keyring, another audience
    for cookie in (None, "", "junk", f"{header}.{payload}.{signature[:-2]}AA", forged_state, access_token):
        with pytest.raises(SignOnFailed) as info:
            unseal(cookie, ring(), now)
        assert info.value.code == "sso_state_mismatch"
    with pytest.raises(SignOnFailed):
        unseal(seal(PENDING, other, now), ring(), now)
    with pytest.raises(SignOnFailed):
        unseal(seal(PENDING, ring(), now - TTL_S - 5), ring(), now)
