"""A circuit breaker per deployment, as a pure state machine.

    CLOSED --(failure rate over the window >= threshold, with enough requests)--> OPEN
    CLOSED --(`consecutive_failures` failures in a row within the window, whatever came before)--> OPEN
    OPEN --(cooldown passed: `allow` lets exactly one probe through)--> HALF_OPEN
    HALF_OPEN --(probe succeeds)--> CLOSED, window cleared
    HALF_OPEN --(probe fails)--> OPEN, with a new `opened_at`

Every transition is a function from a `Breaker` to a new `Breaker`; `now` is passed in (seconds on a
monotonic clock). The sliding window is kept as per-second buckets of counts, so a breaker stays a few
hundred bytes at any request rate and is cheap to copy or to store elsewhere.

The rate alone judges a deployment by the whole window: after thousands of successes, a deployment that starts
to hang (every call a timeout) would stay closed until its timeouts outnumbered the successes still in the
window, many seconds later. So the latest outcomes also judge it: `consecutive_failures` failures with no
success between them (all within `window_s`) open the breaker at once, however many successes came before.

Where breakers live is a `BreakerStore`: `BreakerBoard` is the in-process one; a shared (Redis) store
can implement the same two methods, for instance over a local copy it synchronises in the background.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple, Protocol


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_rate_threshold: float = 0.5
    min_requests: int = 5
    window_s: float = 30.0
    """Outcomes older than this stop counting (to within one `bucket_s`)."""
    cooldown_s: float = 30.0
    """How long an open breaker refuses; also how long a probe may stay unanswered before another is let through."""
    bucket_s: float = 1.0
    consecutive_failures: int | None = 5
    """This many failures in a row (within `window_s`) open the breaker whatever else the window holds; None:
    only the failure rate judges."""


class Bucket(NamedTuple):
    """The outcomes recorded in `[start, start + bucket_s)`."""

    start: float
    ok: int
    failed: int


@dataclass(frozen=True, slots=True)
class Breaker:
    state: BreakerState = BreakerState.CLOSED
    window: tuple[Bucket, ...] = ()
    opened_at: float | None = None
    probe_started_at: float | None = None
    streak: int = 0
    """Failures in a row since the last success, of those still in the window (counted while closed)."""

    @property
    def probe_in_flight(self) -> bool:
        return self.probe_started_at is not None


CLOSED = Breaker()


def allow(b: Breaker, policy: BreakerPolicy, now: float) -> tuple[bool, Breaker]:
    """May a request go to this deployment now? Returns the answer and the breaker to keep.

    A half-open breaker lets one probe through; while it is unanswered, others are refused. A probe
    whose outcome never came (its client left) stops counting after `cooldown_s`, and another may go.
    """
    if b.state is BreakerState.CLOSED:
        return True, b
    if b.state is BreakerState.OPEN:
        if b.opened_at is not None and now - b.opened_at < policy.cooldown_s:
            return False, b
        return True, Breaker(BreakerState.HALF_OPEN, opened_at=b.opened_at, probe_started_at=now)
    if b.probe_started_at is not None and now - b.probe_started_at < policy.cooldown_s:
        return False, b
    return True, Breaker(b.state, b.window, b.opened_at, now, b.streak)


def on_success(b: Breaker, policy: BreakerPolicy, now: float) -> Breaker:
    if b.state is BreakerState.HALF_OPEN:
        return CLOSED
    if b.state is BreakerState.OPEN:
        return b  # a request sent before the breaker opened; it does not shorten the cooldown
    return Breaker(b.state, _add(b.window, policy, now, ok=True), b.opened_at, b.probe_started_at)


def on_failure(b: Breaker, policy: BreakerPolicy, now: float) -> Breaker:
    if b.state is BreakerState.HALF_OPEN:
        return Breaker(BreakerState.OPEN, opened_at=now)
    if b.state is BreakerState.OPEN:
        return b
    window = _add(b.window, policy, now, ok=False)
    ok, failed = counts(window)
    streak = min(b.streak + 1, failed)  # the failures in a row that are still in the window
    if policy.consecutive_failures is not None and streak >= policy.consecutive_failures:
        return Breaker(BreakerState.OPEN, opened_at=now)
    total = ok + failed
    if total >= policy.min_requests and failed / total >= policy.failure_rate_threshold:
        return Breaker(BreakerState.OPEN, opened_at=now)
    return Breaker(b.state, window, b.opened_at, b.probe_started_at, streak)


def counts(window: tuple[Bucket, ...]) -> tuple[int, int]:
    """(successes, failures) in a window."""
    return sum(x.ok for x in window), sum(x.failed for x in window)


def _add(window: tuple[Bucket, ...], policy: BreakerPolicy, now: float, *, ok: bool) -> tuple[Bucket, ...]:
    """The window with one more outcome at `now`, and without buckets that ended before the window."""
    start = math.floor(now / policy.bucket_s) * policy.bucket_s
    horizon = now - policy.window_s
    if window and window[0].start + policy.bucket_s > horizon:  # nothing to drop (the common case): no copy
        last = window[-1]
        if last.start == start:
            return (*window[:-1], Bucket(start, last.ok + ok, last.failed + (not ok)))
        return (*window, Bucket(start, int(ok), int(not ok)))
    kept = [x for x in window if x.start + policy.bucket_s > horizon]
    if kept and kept[-1].start == start:
        last = kept[-1]
        kept[-1] = Bucket(start, last.ok + ok, last.failed + (not ok))
    else:
        kept.append(Bucket(start, int(ok), int(not ok)))
    return tuple(kept)


class BreakerStore(Protocol):
    """Where breakers live. An unknown deployment reads as closed."""

    def get(self, deployment_id: str) -> Breaker: ...

    def put(self, deployment_id: str, breaker: Breaker) -> None: ...

    def view(self) -> Mapping[str, Breaker]: ...


class BreakerBoard:
    """The in-process `BreakerStore`, one per gateway instance."""

    __slots__ = ("_table", "_view")

    def __init__(self) -> None:
        self._table: dict[str, Breaker] = {}
        self._view: Mapping[str, Breaker] = MappingProxyType(self._table)

    def view(self) -> Mapping[str, Breaker]:
        """A live read-only view (no copy), for planning on the hot path."""
        return self._view

    def get(self, deployment_id: str) -> Breaker:
        return self._table.get(deployment_id, CLOSED)

    def put(self, deployment_id: str, breaker: Breaker) -> None:
        self._table[deployment_id] = breaker

    def snapshot(self) -> Mapping[str, Breaker]:
        return MappingProxyType(dict(self._table))


def admit(store: BreakerStore, deployment_id: str, policy: BreakerPolicy, now: float) -> bool:
    """`allow`, kept: call it just before sending, so a half-open deployment's probe is claimed once."""
    ok, new = allow(old := store.get(deployment_id), policy, now)
    if new is not old:
        store.put(deployment_id, new)
    return ok


def record(store: BreakerStore, deployment_id: str, ok: bool, policy: BreakerPolicy, now: float) -> None:
    """Record one outcome: `ok` unless the deployment itself failed (a caller's 4xx is the caller's fault)."""
    old = store.get(deployment_id)
    new = on_success(old, policy, now) if ok else on_failure(old, policy, now)
    if new is not old:
        store.put(deployment_id, new)
