"""Login attempts per client address, so spraying passwords over many accounts is as slow as guessing one.

Each attempt takes one unit from its address's bucket (`ONEFLOW_LOGIN_IP_RPM` per minute, refilled evenly) before
anything is looked up or hashed; a successful login gives its unit back, so the bucket counts failed and
in-flight attempts. An empty bucket answers 429 `login_throttled` with `Retry-After`. The buckets are the rate
limiter's (`limiter`): in Redis, shared by every replica, when `REDIS_URL` is set; in this process otherwise.
The address is the peer's, or what `X-Forwarded-For` says when the peer is one of `ONEFLOW_TRUSTED_PROXIES`.
"""

from __future__ import annotations

import math

from oneflow_ai.errors import RateLimited
from oneflow_ai.identity.buckets import Rate
from oneflow_ai.identity.limiter import Charge, Limiter

KEY_PREFIX = "oneflow:login:ip:"
PERIOD_S = 60


class LoginThrottle:
    def __init__(self, limiter: Limiter, per_minute: int | None) -> None:
        self._limiter = limiter
        self._rate = Rate(per_minute, PERIOD_S) if per_minute else None

    async def take(self, address: str | None) -> Charge | None:
        """One attempt from `address`, or 429; what `give_back` takes when the attempt succeeds."""
        if self._rate is None:
            return None
        # Like every bucket key, it ends with its rate, so another limit (a changed setting) is another bucket.
        charge = Charge(f"{KEY_PREFIX}{address or '-'}:{self._rate.capacity}:{PERIOD_S}", self._rate, 1)
        (verdict,) = await self._limiter.take([charge])
        if not verdict.allowed:
            wait = max(1, math.ceil(verdict.retry_after_s))
            raise RateLimited(
                f"Too many login attempts from your address; try again in {wait}s.",
                code="login_throttled",
                headers={"retry-after": str(wait)},
            )
        return charge

    def give_back(self, charge: Charge | None) -> None:
        if charge is not None:
            self._limiter.adjust([Charge(charge.key, charge.rate, -charge.cost)])
