"""Passwords: argon2id hashes, the password policy, and the back-off/lock-out arithmetic for failed logins.

Hashing costs tens of milliseconds of CPU by design, so it runs in a small pool of its own threads (argon2 releases
the GIL), never on the event loop: a flood of logins queues for the pool instead of taking every core from the
threads that serve `/v1`.

argon2-cffi (and its CFFI bindings, ~0.7 MiB) is imported on the first hash or check, not with the module: most
workers never see a login (keys authenticate `/v1`; the console signs in through SSO or once a session).

Policy: 12 to 128 characters (the upper bound keeps hashing cost bounded), at least 5 distinct characters,
not one of the most common passwords, and not containing the account's e-mail name. Length over composition
rules, as NIST SP 800-63B recommends.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from oneflow_ai.errors import InvalidRequest

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 12
MAX_LENGTH = 128
COMMON = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiopas",
        "passwordpassword",
        "iloveyou1234",
        "letmein12345",
        "administrator",
        "changeme1234",
        "welcome12345",
        "qwerty123456",
        "password123!",
        "1q2w3e4r5t6y",
    }
)


def check_policy(password: str, email: str) -> None:
    def reject(why: str) -> InvalidRequest:
        return InvalidRequest(f"The password {why}.", param="password", code="weak_password")

    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise reject(f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long")
    if len(set(password)) < 5:
        raise reject("must use at least 5 different characters")
    lowered = password.lower()
    if lowered in COMMON:
        raise reject("is too common")
    local = email.partition("@")[0].lower()
    if len(local) >= 4 and local in lowered:
        raise reject("must not contain your e-mail name")


def default_workers() -> int:
    """Half the cores (at least one): hashing never holds more than that, whatever the number of logins."""
    return max(1, (os.cpu_count() or 2) // 2)


class Passwords:
    """argon2id with the library's defaults (RFC 9106 low-memory profile), on at most `workers` threads."""

    def __init__(self, workers: int | None = None) -> None:
        self._argon2: PasswordHasher | None = None
        self._dummy: str | None = None
        self._pool = ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="argon2")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher().hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches; with no stored hash (unknown user) it spends the same time and says no."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash("not-a-password-of-anyone")
            await asyncio.get_running_loop().run_in_executor(self._pool, _check, self._hasher(), self._dummy, password)
            return False
        return await asyncio.get_running_loop().run_in_executor(self._pool, _check, self._hasher(), stored, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _hasher(self) -> PasswordHasher:
        """The argon2id hasher, made (and argon2-cffi imported) on the event loop's first use, never in a thread."""
        if self._argon2 is None:
            from argon2 import PasswordHasher, Type

            self._argon2 = PasswordHasher(type=Type.ID)
        return self._argon2


def _check(hasher: PasswordHasher, stored: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError  # loaded with the hasher already

    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Lockout:
    """After `backoff_after` consecutive failures each further one makes the account wait 1, 2, 4, … seconds;
    after `lock_after` failures it is locked for `lock_s`. A successful login clears the count."""

    backoff_after: int = 5
    lock_after: int = 10
    lock_s: float = 900.0

    def locked_until(self, failures: int, now: datetime) -> datetime | None:
        if failures >= self.lock_after:
            return now + timedelta(seconds=self.lock_s)
        if failures >= self.backoff_after:
            return now + timedelta(seconds=float(2 ** (failures - self.backoff_after)))
        return None
