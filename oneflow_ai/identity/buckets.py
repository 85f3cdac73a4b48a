"""Token-bucket arithmetic: values in, values out, `now` passed in. No I/O, no clock.

A bucket holds up to `capacity` units and refills at `capacity / period_s` units per second. A call costing `cost`
units is admitted when the bucket holds at least `min(cost, capacity)` (so one call larger than the whole
capacity can still pass when the bucket is full), and then `cost` is taken in full: the level may go negative,
and later calls wait until the debt has refilled. `adjust` reconciles an estimate with what was really used.

`take_all` is all-or-nothing over several buckets (per key, user, tenant, end user, model; requests and tokens):
either every bucket admits the call and each is charged, or none is touched. The Redis Lua script in
`limiter.py` is this same arithmetic, line for line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: int
    period_s: float

    @property
    def per_s(self) -> float:
        return self.capacity / self.period_s


@dataclass(frozen=True, slots=True)
class Bucket:
    level: float
    at: float


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: float
    """0 when admitted; else how long until this bucket would admit the same call."""
    reset_s: float
    """How long until the bucket is full again."""


def level_at(bucket: Bucket | None, rate: Rate, now: float) -> float:
    if bucket is None:
        return float(rate.capacity)
    return min(float(rate.capacity), bucket.level + max(0.0, now - bucket.at) * rate.per_s)


def admits(level: float, rate: Rate, cost: int) -> bool:
    return level + EPSILON >= min(cost, rate.capacity)


def verdict(level: float, rate: Rate, cost: int, allowed: bool) -> Verdict:
    """The verdict for a bucket at `level` (after the charge when `allowed`, before it when not)."""
    need = min(cost, rate.capacity)
    retry = 0.0 if allowed or level + EPSILON >= need else (need - level) / rate.per_s
    return Verdict(
        allowed=allowed,
        limit=rate.capacity,
        remaining=max(0, math.floor(level + EPSILON)),
        retry_after_s=retry,
        reset_s=max(0.0, (rate.capacity - level) / rate.per_s),
    )


def take(bucket: Bucket | None, rate: Rate, cost: int, now: float) -> tuple[Bucket | None, Verdict]:
    """Charge one bucket; a refused call leaves it as it was."""
    (after,), verdicts = take_all([(bucket, rate, cost)], now)
    return after, verdicts[0]


def take_all(buckets: list[tuple[Bucket | None, Rate, int]], now: float) -> tuple[list[Bucket | None], list[Verdict]]:
    levels = [level_at(b, r, now) for b, r, _ in buckets]
    allowed = all(admits(level, r, cost) for level, (_, r, cost) in zip(levels, buckets, strict=True))
    if not allowed:
        return [b for b, _, _ in buckets], [
            verdict(level, r, cost, False) for level, (_, r, cost) in zip(levels, buckets, strict=True)
        ]
    after = [level - cost for level, (_, _, cost) in zip(levels, buckets, strict=True)]
    return [Bucket(level, now) for level in after], [
        verdict(level, r, cost, True) for level, (_, r, cost) in zip(after, buckets, strict=True)
    ]


def adjust(bucket: Bucket | None, rate: Rate, delta: int, now: float) -> Bucket:
    """Charge `delta` more units (a refund when negative) after the fact; the level never exceeds capacity."""
    return Bucket(min(float(rate.capacity), level_at(bucket, rate, now) - delta), now)
