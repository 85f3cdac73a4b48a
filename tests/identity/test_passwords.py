"""Password policy, argon2id hashing, and the back-off/lock-out arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity.passwords import Lockout, Passwords, check_policy

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("password", ["short", "a" * 129, "aaaaaaaaaaaaaaa", "Password1234", "alice.smith-was-here"])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        check_policy(password, "alice.smith@example.com")
    assert e.value.code == "weak_password" and e.value.param == "password"


def test_a_long_passphrase_passes() -> None:
    check_policy("correct horse battery staple", "alice@example.com")


async def test_argon2id_hashes_verify_and_an_unknown_user_costs_the_same() -> None:
    pw = Passwords()
    stored = await pw.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert await pw.verify(stored, "correct horse battery staple")
    assert not await pw.verify(stored, "wrong horse battery staple")
    assert not await pw.verify(None, "anything at all")
    assert not await pw.verify("not a hash", "anything at all")


def test_backoff_then_lockout() -> None:
    rule = Lockout(backoff_after=5, lock_after=10, lock_s=900)
    assert [rule.locked_until(n, NOW) for n in range(5)] == [None] * 5
    assert [rule.locked_until(n, NOW) for n in (5, 6, 7)] == [NOW + timedelta(seconds=s) for s in (1, 2, 4)]
    assert rule.locked_until(10, NOW) == rule.locked_until(50, NOW) == NOW + timedelta(seconds=900)
