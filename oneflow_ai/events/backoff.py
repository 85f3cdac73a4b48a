"""When to try a failed delivery again: exponential backoff with full jitter, capped."""

from __future__ import annotations


def delay_s(attempt: int, base_s: float, cap_s: float, rand: float) -> float:
    """The wait after the `attempt`-th failure (1-based): a uniform draw (`rand` in [0, 1)) over
    [base/2, min(cap, base * 2**(attempt-1))], so two endpoints failing together do not retry in step and a
    retry never comes sooner than half the base."""
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt - 1, 62))
    floor = min(base_s / 2, ceiling)
    return floor + (ceiling - floor) * rand
