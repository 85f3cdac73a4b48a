"""The token-bucket arithmetic: pure, so tested without fixtures, with Hypothesis where it counts."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.identity.buckets import Bucket, Rate, adjust, level_at, take, take_all

rates = st.builds(Rate, capacity=st.integers(1, 10_000), period_s=st.sampled_from([1.0, 60.0, 3600.0]))
gaps = st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=200)


def test_a_fresh_bucket_admits_capacity_then_refuses() -> None:
    rate, bucket = Rate(3, 60), None
    for remaining in (2, 1, 0):
        bucket, v = take(bucket, rate, 1, now=100.0)
        assert v.allowed and v.remaining == remaining
    bucket, v = take(bucket, rate, 1, now=100.0)
    assert not v.allowed and v.remaining == 0
    assert math.isclose(v.retry_after_s, 20.0)  # one request refills in 60/3 s
    assert math.isclose(v.reset_s, 60.0)


def test_a_call_larger_than_the_capacity_passes_a_full_bucket_and_leaves_a_debt() -> None:
    rate = Rate(1000, 60)
    bucket, v = take(None, rate, 5000, now=0.0)
    assert v.allowed and bucket is not None and bucket.level == -4000
    _, v = take(bucket, rate, 1, now=1.0)
    assert not v.allowed and math.isclose(v.retry_after_s, (4001 - 1000 / 60) / (1000 / 60))


@given(rates, gaps)
def test_never_admits_more_than_capacity_plus_refill(rate: Rate, gaps: list[float]) -> None:
    bucket: Bucket | None = None
    now, admitted = 0.0, 0
    for gap in gaps:
        now += gap
        bucket, v = take(bucket, rate, 1, now)
        admitted += v.allowed
    assert admitted <= rate.capacity + now * rate.per_s + 1e-6


@given(rates, st.integers(0, 20_000), st.floats(0, 10_000, allow_nan=False))
def test_a_refusal_changes_nothing_and_its_retry_after_is_exact(rate: Rate, spent: int, at: float) -> None:
    bucket = Bucket(level=rate.capacity - spent, at=at)
    after, v = take(bucket, rate, 1, at)
    if v.allowed:
        return
    assert after == bucket
    _, later = take(bucket, rate, 1, at + v.retry_after_s + 1e-6)
    assert later.allowed


@given(
    st.lists(st.tuples(rates, st.integers(0, 20_000), st.integers(1, 500)), min_size=1, max_size=6),
    st.floats(0, 100, allow_nan=False),
)
def test_take_all_is_all_or_nothing(specs: list[tuple[Rate, int, int]], now: float) -> None:
    buckets = [(Bucket(r.capacity - spent, 0.0), r, cost) for r, spent, cost in specs]
    after, verdicts = take_all(buckets, now)  # type: ignore[arg-type]
    admitted = {v.allowed for v in verdicts}
    assert len(admitted) == 1
    if admitted == {False}:
        assert after == [b for b, _, _ in buckets]
        assert any(v.retry_after_s > 0 for v in verdicts)
    else:
        for (b, r, cost), a in zip(buckets, after, strict=True):
            assert a is not None and math.isclose(a.level, level_at(b, r, now) - cost, abs_tol=1e-6)


@given(
    rates,
    st.floats(-20_000, 10_000, allow_nan=False),
    st.integers(-20_000, 20_000),
    st.floats(0, 1000, allow_nan=False),
)
def test_adjust_never_overfills(rate: Rate, level: float, delta: int, dt: float) -> None:
    b = adjust(Bucket(min(level, rate.capacity), 0.0), rate, delta, dt)
    assert b.level <= rate.capacity and b.at == dt


@given(rates, st.floats(-20_000, 10_000, allow_nan=False), st.floats(0, 1e6, allow_nan=False))
def test_the_level_refills_monotonically_up_to_capacity(rate: Rate, level: float, dt: float) -> None:
    b = Bucket(min(level, rate.capacity), 0.0)
    assert b.level <= level_at(b, rate, dt) <= rate.capacity
    assert level_at(b, rate, dt) <= level_at(b, rate, dt + 1)
