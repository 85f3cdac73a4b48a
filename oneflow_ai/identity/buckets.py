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
from typing import NamedTuple

EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: int
    period_s: float

    @property
    def per_s(self) -> float:
        return self.capacity / self.period_s


class Bucket(NamedTuple):  # tuples, not dataclasses: a call makes one of each per bucket, on the hot path
    level: float
    at: float


class Verdict(NamedTuple):
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
    elapsed = now - bucket.at
    level = bucket.level + elapsed * (rate.capacity / rate.period_s) if elapsed > 0 else bucket.level
    return level if level < rate.capacity else float(rate.capacity)


def admits(level: float, rate: Rate, cost: int) -> bool:
    return level + EPSILON >= min(cost, rate.capacity)


def verdict(level: float, rate: Rate, cost: int, allowed: bool) -> Verdict:
    """The verdict for a bucket at `level` (after the charge when `allowed`, before it when not)."""
    capacity = rate.capacity
    per_s = capacity / rate.period_s
    need = cost if cost < capacity else capacity
    retry = 0.0 if allowed or level + EPSILON >= need else (need - level) / per_s
    reset = (capacity - level) / per_s
    return Verdict(allowed, capacity, max(0, math.floor(level + EPSILON)), retry, reset if reset > 0 else 0.0)


def take(bucket: Bucket | None, rate: Rate, cost: int, now: float) -> tuple[Bucket | None, Verdict]:
    """Charge one bucket; a refused call leaves it as it was."""
    (after,), verdicts = take_all([(bucket, rate, cost)], now)
    return after, verdicts[0]


def take_all(buckets: list[tuple[Bucket | None, Rate, int]], now: float) -> tuple[list[Bucket | None], list[Verdict]]:
    levels = [level_at(b, r, now) for b, r, _ in buckets]
    allowed = True
    for level, (_, r, cost) in zip(levels, buckets, strict=True):
        if level + EPSILON < min(cost, r.capacity):  # `admits`, inlined
            allowed = False
            break
    if not allowed:
        return [b for b, _, _ in buckets], [
            verdict(level, r, cost, False) for level, (_, r, cost) in zip(levels, buckets, strict=True)
        ]
    after: list[Bucket | None] = []
    verdicts: list[Verdict] = []
    for level, (_, r, cost) in zip(levels, buckets, strict=True):
        left = level - cost
        after.append(Bucket(left, now))
        verdicts.append(verdict(left, r, cost, True))
    return after, verdicts


def adjust(bucket: Bucket | None, rate: Rate, delta: int, now: float) -> Bucket:
    """Charge `delta` more units (a refund when negative) after the fact; the level never exceeds capacity."""
    return Bucket(min(float(rate.capacity), level_at(bucket, rate, now) - delta), now)
