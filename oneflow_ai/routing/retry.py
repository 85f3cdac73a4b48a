"""How long to wait before trying again: exponential backoff with full jitter, bounded by a deadline.

Pure arithmetic: the random number is passed in, so the caller owns the randomness and tests do not.
"""

from __future__ import annotations

_MAX_EXPONENT = 62  # 2**62 times any sane base is far past any cap, and nowhere near float overflow


def backoff_delay(attempt: int, *, rand: float, base_s: float = 0.25, cap_s: float = 8.0) -> float:
    """Seconds to wait after failed attempt number `attempt` (0 for the first): `rand * min(cap, base * 2**attempt)`.

    Full jitter spreads retries of many clients over the whole interval instead of synchronising them.
    """
    if not 0.0 <= rand < 1.0:
        raise ValueError(f"rand must be in [0, 1), got {rand!r}")
    exponent = min(max(attempt, 0), _MAX_EXPONENT)
    return rand * min(cap_s, base_s * 2.0**exponent)


def next_delay(
    attempt: int,
    retry_after: float | None,
    deadline_remaining_s: float,
    *,
    rand: float,
    base_s: float = 0.25,
    cap_s: float = 8.0,
) -> float | None:
    """The wait before the next attempt, or `None` when waiting would reach the deadline: give up instead.

    An upstream's `Retry-After` is honoured as given; otherwise the delay is `backoff_delay`.
    """
    if retry_after is not None:
        delay = max(0.0, retry_after)
    else:
        delay = backoff_delay(attempt, rand=rand, base_s=base_s, cap_s=cap_s)
    return None if delay >= deadline_remaining_s else delay
