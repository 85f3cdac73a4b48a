"""The pure budget arithmetic: when a period starts and ends, what remains, which thresholds a spend crosses.

Values in, values out: `now` is passed in, nothing here reads a clock or does I/O. Periods are UTC calendar
periods: a day starts at midnight, a week on Monday at midnight, a month on its first day; `total` never
resets (its start is the epoch and it has no end).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, get_args

Period = Literal["daily", "weekly", "monthly", "total"]
PERIODS: tuple[str, ...] = get_args(Period)

Scope = Literal["key", "user", "end_user", "department", "tenant", "provider", "model"]
SCOPES: tuple[str, ...] = get_args(Scope)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_THRESHOLDS = (Decimal("0.5"), Decimal("0.8"), Decimal("1"))


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def period_start(period: str, now: datetime) -> datetime:
    """The UTC instant the `period` containing `now` began."""
    now = _utc(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return midnight
    if period == "weekly":
        return midnight - timedelta(days=midnight.weekday())
    if period == "monthly":
        return midnight.replace(day=1)
    if period == "total":
        return EPOCH
    raise ValueError(f"unknown budget period {period!r}; known: {', '.join(PERIODS)}")


def period_end(period: str, now: datetime) -> datetime | None:
    """The UTC instant the `period` containing `now` ends (the next one's start); None for `total`."""
    start = period_start(period, now)
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    if period == "monthly":
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)
    return None


def remaining(limit: Decimal, spent: Decimal, reserved: Decimal = Decimal(0)) -> Decimal:
    """What may still be spent: never below zero."""
    return max(Decimal(0), limit - spent - reserved)


def admits(limit: Decimal, spent: Decimal, reserved: Decimal, estimate: Decimal) -> bool:
    """Whether a call expected to cost `estimate` fits: nothing fits once the budget is used up."""
    return hold(limit, spent, reserved, estimate, estimate) is not None


def hold(limit: Decimal, spent: Decimal, reserved: Decimal, estimate: Decimal, minimum: Decimal) -> Decimal | None:
    """What a call may hold of a budget: its `estimate` when that fits; when only part of it fits, all that is
    left, provided that is at least the call's `minimum`; None when the call is refused (nothing fits once the
    budget is used up). A call holding the rest leaves nothing to the calls after it until it settles, so at most
    one call at a time can spend past the limit, by at most its own cost less the rest it held."""
    room = limit - spent - reserved
    if room <= 0 or room < minimum:
        return None
    return estimate if estimate <= room else room


def crossed(thresholds: Iterable[Decimal], limit: Decimal, before: Decimal, after: Decimal) -> list[Decimal]:
    """The thresholds (fractions of `limit`) that spend reaching `after` from `before` passed: `before` was
    below `t * limit` and `after` is at or above it. In ascending order."""
    return sorted(t for t in set(thresholds) if before < t * limit <= after)


def parse_thresholds(text: str) -> tuple[Decimal, ...]:
    """`"0.5,0.8,1.0"` -> (0.5, 0.8, 1.0): fractions in (0, 10], sorted, without repeats."""
    try:
        values = sorted({Decimal(part.strip()) for part in text.split(",") if part.strip()})
    except ArithmeticError:
        raise ValueError(f"thresholds must be comma-separated decimal fractions, got {text!r}") from None
    for v in values:
        if not v.is_finite() or not 0 < v <= 10:
            raise ValueError(f"a threshold is a fraction of the limit in (0, 10], got {v}")
    return tuple(values)


def format_thresholds(values: Iterable[Decimal]) -> str:
    return ",".join(str(v) for v in sorted(set(values)))
