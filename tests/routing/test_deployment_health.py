import pytest
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.routing.health import (
    UNKNOWN,
    DeploymentHealth,
    HealthBoard,
    finished,
    record_failure,
    record_success,
    started,
)


def test_first_success_seeds_the_averages() -> None:
    h = record_success(UNKNOWN, 2.0, 0.5, now=10.0)
    assert h == DeploymentHealth(ewma_latency_s=2.0, ewma_ttft_s=0.5, error_rate=0.0, samples=1, last_updated=10.0)


def test_later_samples_move_the_average_by_alpha() -> None:
    h = record_success(record_success(UNKNOWN, 2.0, None, now=1.0), 4.0, None, now=2.0, alpha=0.25)
    assert h.ewma_latency_s == pytest.approx(2.5)
    assert h.ewma_ttft_s is None
    assert h.samples == 2


def test_failures_raise_the_error_rate_but_leave_latency_alone() -> None:
    h = record_success(UNKNOWN, 1.0, None, now=1.0)
    h = record_failure(h, now=2.0)
    assert h.error_rate == pytest.approx(0.2)
    assert h.ewma_latency_s == 1.0
    assert h.last_updated == 2.0
    assert record_failure(UNKNOWN, now=0.0).error_rate == 1.0


def test_in_flight_never_goes_below_zero() -> None:
    assert started(started(UNKNOWN)).in_flight == 2
    assert finished(started(UNKNOWN)).in_flight == 0
    assert finished(UNKNOWN).in_flight == 0


@given(st.lists(st.booleans(), min_size=1, max_size=50))
def test_error_rate_stays_a_rate(outcomes: list[bool]) -> None:
    h = UNKNOWN
    for i, ok in enumerate(outcomes):
        h = record_success(h, 1.0, None, now=i) if ok else record_failure(h, now=i)
    assert 0.0 <= h.error_rate <= 1.0
    assert h.samples == len(outcomes)


@given(st.lists(st.floats(min_value=0.001, max_value=600), min_size=1, max_size=50))
def test_latency_average_stays_between_the_extremes(latencies: list[float]) -> None:
    h = UNKNOWN
    for i, latency in enumerate(latencies):
        h = record_success(h, latency, None, now=i)
    assert h.ewma_latency_s is not None
    assert min(latencies) - 1e-9 <= h.ewma_latency_s <= max(latencies) + 1e-9


def test_boards_are_separate_and_snapshots_do_not_change() -> None:
    board, other = HealthBoard(), HealthBoard()
    assert board.get("a") is UNKNOWN
    board.update("a", started)
    before = board.snapshot()
    board.update("a", started)
    assert before["a"].in_flight == 1
    assert board.get("a").in_flight == 2
    assert other.snapshot() == {}
    with pytest.raises(TypeError):
        before["b"] = UNKNOWN  # type: ignore[index]
