import pytest
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.routing.retry import backoff_delay, next_delay

rands = st.floats(min_value=0, max_value=1, exclude_max=True)


def test_backoff_doubles_up_to_the_cap() -> None:
    almost_one = 0.999999
    assert backoff_delay(0, rand=almost_one) == pytest.approx(0.25, rel=1e-5)
    assert backoff_delay(3, rand=almost_one) == pytest.approx(2.0, rel=1e-5)
    assert backoff_delay(10, rand=almost_one) == pytest.approx(8.0, rel=1e-5)
    assert backoff_delay(2, rand=0.5, base_s=1.0, cap_s=100.0) == 2.0
    assert backoff_delay(5, rand=0.0) == 0.0


def test_rand_outside_the_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        backoff_delay(1, rand=1.0)


@given(st.integers(min_value=-5, max_value=10_000), rands, st.floats(min_value=0.001, max_value=60))
def test_backoff_is_within_zero_and_the_cap(attempt: int, rand: float, cap: float) -> None:
    assert 0.0 <= backoff_delay(attempt, rand=rand, cap_s=cap) <= cap


def test_retry_after_is_honoured() -> None:
    assert next_delay(0, 3.0, 10.0, rand=0.9) == 3.0
    assert next_delay(0, -1.0, 10.0, rand=0.9) == 0.0


def test_no_retry_past_the_deadline() -> None:
    assert next_delay(0, 3.0, 2.0, rand=0.0) is None
    assert next_delay(10, None, 1.0, rand=0.5) is None  # 4 s of backoff, 1 s left
    assert next_delay(10, None, 5.0, rand=0.5) == 4.0


@given(
    st.integers(min_value=0, max_value=50),
    st.none() | st.floats(min_value=0, max_value=120),
    st.floats(min_value=-1, max_value=120),
    rands,
)
def test_a_delay_always_ends_before_the_deadline(
    attempt: int, retry_after: float | None, remaining: float, rand: float
) -> None:
    delay = next_delay(attempt, retry_after, remaining, rand=rand)
    if delay is not None:
        assert 0.0 <= delay < remaining
    if retry_after is not None and delay is not None:
        assert delay == retry_after
