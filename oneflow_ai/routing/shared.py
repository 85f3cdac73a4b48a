"""Breaker state shared between gateway processes, as values: what one process publishes, and how another
adopts it. The I/O (Redis) lives in `oneflow_ai.gateway.shared_breakers`.

Only *transitions* are shared (closed -> open, open -> half-open, half-open -> closed or open, and a new
probe), never each outcome: every process keeps counting its own window, and the first to open a breaker
opens it for all. A transition is stamped with wall-clock time, since processes' monotonic clocks do not
compare; a receiver converts the stamps to its own monotonic clock. The newest transition wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from oneflow_ai.routing.breaker import CLOSED, Breaker, BreakerState


@dataclass(frozen=True, slots=True)
class Transition:
    """A breaker's new state as published: times are wall-clock seconds (`time.time()`)."""

    deployment_id: str
    state: BreakerState
    at: float
    opened_at: float | None
    probe_started_at: float | None
    origin: str
    """The publishing process, so that it ignores its own messages."""


def changed(old: Breaker, new: Breaker) -> bool:
    """Is `new` a transition worth publishing (anything but the window's counts)?"""
    return new.state is not old.state or new.opened_at != old.opened_at or new.probe_started_at != old.probe_started_at


def published(deployment_id: str, b: Breaker, origin: str, mono_now: float, wall_now: float) -> Transition:
    """`b` (with monotonic times) as a transition to publish (with wall-clock times)."""
    return Transition(
        deployment_id,
        b.state,
        wall_now,
        _to_wall(b.opened_at, mono_now, wall_now),
        _to_wall(b.probe_started_at, mono_now, wall_now),
        origin,
    )


def adopted(t: Transition, mono_now: float, wall_now: float) -> Breaker:
    """The breaker a receiver keeps for `t`: its state and times, with a fresh window."""
    if t.state is BreakerState.CLOSED:
        return CLOSED
    return Breaker(
        t.state,
        opened_at=_to_mono(t.opened_at, mono_now, wall_now),
        probe_started_at=_to_mono(t.probe_started_at, mono_now, wall_now),
    )


def same(local: Breaker, t: Transition, mono_now: float, wall_now: float, tolerance_s: float = 0.05) -> bool:
    """Does `local` already say what `t` says (times compared to within `tolerance_s`)?"""
    other = adopted(t, mono_now, wall_now)
    return (
        local.state is other.state
        and _close(local.opened_at, other.opened_at, tolerance_s)
        and _close(local.probe_started_at, other.probe_started_at, tolerance_s)
    )


def encode(t: Transition) -> bytes:
    return orjson.dumps(
        {
            "id": t.deployment_id,
            "state": t.state.value,
            "at": t.at,
            "opened_at": t.opened_at,
            "probe_started_at": t.probe_started_at,
            "origin": t.origin,
        }
    )


def decode(raw: bytes | str) -> Transition | None:
    """A transition from its JSON; None for anything malformed (a message from a newer version, say)."""
    try:
        d = orjson.loads(raw)
        return Transition(
            str(d["id"]),
            BreakerState(d["state"]),
            float(d["at"]),
            _float(d.get("opened_at")),
            _float(d.get("probe_started_at")),
            str(d.get("origin", "")),
        )
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
        return None


def _float(v: object) -> float | None:
    return None if v is None else float(v)  # type: ignore[arg-type]


def _to_wall(t: float | None, mono_now: float, wall_now: float) -> float | None:
    return None if t is None else wall_now - (mono_now - t)


def _to_mono(t: float | None, mono_now: float, wall_now: float) -> float | None:
    return None if t is None else mono_now - (wall_now - t)


def _close(a: float | None, b: float | None, tolerance_s: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance_s
