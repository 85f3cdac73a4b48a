"""The pure budget arithmetic, by property: period boundaries, threshold crossing, admission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.billing.periods import (
    EPOCH,
    admits,
    crossed,
    hold,
    parse_thresholds,
    period_end,
    period_start,
    remaining,
)

moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
zones = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
resetting = st.sampled_from(["daily", "weekly", "monthly"])
money = st.decimals(min_value=0, max_value=10_000, places=6, allow_nan=False, allow_infinity=False)
fractions = st.lists(st.decimals(min_value="0.01", max_value="2", places=2), min_size=1, max_size=6)


@given(moments, resetting)
def test_now_lies_in_its_period(now: datetime, period: str) -> None:
    start, end = period_start(period, now), period_end(period, now)
    assert end is not None
    assert start <= now < end
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)


@given(moments, resetting)
def test_periods_tile_time(now: datetime, period: str) -> None:
    start, end = period_start(period, now), period_end(period, now)
    assert end is not None
    assert period_start(period, start) == start  # a period's start belongs to it
    assert period_start(period, end - timedelta(microseconds=1)) == start  # so does its last instant
    assert period_start(period, end) == end  # and the next one begins where it ends


@given(moments)
def test_period_shapes(now: datetime) -> None:
    day, week, month = (period_start(p, now) for p in ("daily", "weekly", "monthly"))
    assert (day.hour, day.minute, day.second, day.microsecond) == (0, 0, 0, 0)
    assert week.weekday() == 0 and week <= day < week + timedelta(days=7)
    assert month.day == 1 and month <= week + timedelta(days=6)
    assert (period_end("daily", now) - day) == timedelta(days=1)  # type: ignore[operator]
    assert 28 <= (period_end("monthly", now) - month).days <= 31  # type: ignore[operator]


@given(moments, zones, st.sampled_from(["daily", "weekly", "monthly", "total"]))
def test_the_clock_zone_does_not_matter(now: datetime, zone: timezone, period: str) -> None:
    assert period_start(period, now.astimezone(zone)) == period_start(period, now)


@given(moments)
def test_total_never_resets(now: datetime) -> None:
    assert period_start("total", now) == EPOCH and period_end("total", now) is None


def test_naive_and_unknown_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        period_start("daily", datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="unknown budget period"):
        period_start("hourly", datetime(2025, 1, 1, tzinfo=UTC))


@given(fractions, money, st.lists(money, min_size=1, max_size=20))
def test_each_threshold_is_crossed_exactly_once_on_the_way_up(
    ts: list[Decimal], limit: Decimal, steps: list[Decimal]
) -> None:
    """However spend grows, step by step, every threshold it passes is reported once, in the step that
    reached it, and the union is what one big step would report."""
    spend, seen = Decimal(0), []
    for step in steps:
        hit = crossed(ts, limit, spend, spend + step)
        assert all(spend < t * limit <= spend + step for t in hit)
        seen += hit
        spend += step
    assert len(seen) == len(set(seen))
    assert sorted(seen) == crossed(ts, limit, Decimal(0), spend)
    assert set(seen) == {t for t in ts if 0 < t * limit <= spend}


@given(fractions, money, money)
def test_nothing_is_crossed_without_spend(ts: list[Decimal], limit: Decimal, spend: Decimal) -> None:
    assert crossed(ts, limit, spend, spend) == []


@given(money, money, money, money)
def test_admission_never_overcommits(limit: Decimal, spent: Decimal, reserved: Decimal, estimate: Decimal) -> None:
    if admits(limit, spent, reserved, estimate):
        assert spent + reserved + estimate <= limit and spent + reserved < limit
    else:
        assert spent + reserved + estimate > limit or spent + reserved >= limit
    left = remaining(limit, spent, reserved)
    assert left >= 0 and (left == limit - spent - reserved or spent + reserved >= limit)


def test_a_used_up_budget_admits_nothing_even_free() -> None:
    assert not admits(Decimal(1), Decimal(1), Decimal(0), Decimal(0))
    assert not admits(Decimal(0), Decimal(0), Decimal(0), Decimal(0))
    assert admits(Decimal(1), Decimal("0.5"), Decimal("0.25"), Decimal("0.25"))


def test_thresholds_parse() -> None:
    assert parse_thresholds("1.0, 0.5,0.8,0.5") == (Decimal("0.5"), Decimal("0.8"), Decimal("1.0"))
    for bad in ("0", "-1", "abc", "11"):
        with pytest.raises(ValueError):
            parse_thresholds(bad)


@given(money, money, money, money, money)
def test_a_hold_never_overcommits_and_takes_the_rest_only_when_the_minimum_fits(
    limit: Decimal, spent: Decimal, reserved: Decimal, estimate: Decimal, least: Decimal
) -> None:
    minimum = min(least, estimate)
    amount = hold(limit, spent, reserved, estimate, minimum)
    room = limit - spent - reserved
    if amount is None:
        assert room <= 0 or room < minimum
    else:
        assert 0 < amount <= room or (amount == estimate == 0 < room)
        assert amount == min(estimate, room) and room >= minimum
    assert (hold(limit, spent, reserved, estimate, estimate) is not None) == admits(limit, spent, reserved, estimate)


def test_a_small_budget_holds_its_rest_for_a_call_whose_minimum_fits() -> None:
    assert hold(Decimal(1), Decimal("0.9"), Decimal(0), Decimal(5), Decimal("0.01")) == Decimal("0.1")
    assert hold(Decimal(1), Decimal("0.9"), Decimal(0), Decimal(5), Decimal("0.2")) is None
    assert hold(Decimal(1), Decimal("0.9"), Decimal("0.1"), Decimal(5), Decimal(0)) is None  # nothing left
