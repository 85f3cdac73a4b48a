from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.routing.breaker import (
    CLOSED,
    Breaker,
    BreakerBoard,
    BreakerPolicy,
    BreakerState,
    admit,
    allow,
    counts,
    on_failure,
    on_success,
    record,
)

POLICY = BreakerPolicy(failure_rate_threshold=0.5, min_requests=5, window_s=30, cooldown_s=30)


def outcomes(b: Breaker, results: str, now: float = 0.0) -> Breaker:
    """Apply 'o' (success) and 'x' (failure) at `now`."""
    for r in results:
        b = on_success(b, POLICY, now) if r == "o" else on_failure(b, POLICY, now)
    return b


def opened(at: float = 0.0) -> Breaker:
    b = outcomes(CLOSED, "xxxxx", now=at)
    assert b.state is BreakerState.OPEN
    return b


def test_a_closed_breaker_always_allows() -> None:
    assert allow(CLOSED, POLICY, 0.0) == (True, CLOSED)


def test_opens_exactly_at_the_threshold() -> None:
    b = outcomes(CLOSED, "ooooo" + "xxxx", now=1.0)
    assert b.state is BreakerState.CLOSED  # 4 of 9 failed
    b = outcomes(b, "x", now=1.0)
    assert b.state is BreakerState.OPEN  # 5 of 10
    assert b.opened_at == 1.0
    assert b.window == ()


def test_needs_min_requests_before_opening() -> None:
    b = outcomes(CLOSED, "xxxx")
    assert b.state is BreakerState.CLOSED
    assert counts(b.window) == (0, 4)


def test_outcomes_older_than_the_window_stop_counting() -> None:
    b = outcomes(CLOSED, "xxxx", now=0.0)
    b = outcomes(b, "x", now=40.0)
    assert b.state is BreakerState.CLOSED
    assert counts(b.window) == (0, 1)


def test_a_run_of_timeouts_opens_it_at_once_after_any_number_of_successes() -> None:
    b, policy = CLOSED, BreakerPolicy()  # the defaults: 5 failures in a row open it
    for i in range(3000):  # 100 good calls a second for the whole 30 s window
        b = on_success(b, policy, i / 100)
    for i in range(4):
        b = on_failure(b, policy, 30.0 + i / 100)  # the upstream hangs: every call times out
    assert b.state is BreakerState.CLOSED
    b = on_failure(b, policy, 30.04)
    assert b.state is BreakerState.OPEN and b.opened_at == 30.04  # 5 failures among 3,005 outcomes


def test_a_success_breaks_the_run() -> None:
    policy = BreakerPolicy(consecutive_failures=3, min_requests=1000)
    b = outcomes(CLOSED, "o" * 50, now=1.0)
    for r in "xxoxxoxx":
        b = on_success(b, policy, 1.0) if r == "o" else on_failure(b, policy, 1.0)
    assert b.state is BreakerState.CLOSED and b.streak == 2
    assert on_failure(b, policy, 1.0).state is BreakerState.OPEN


def test_a_run_counts_only_failures_still_in_the_window() -> None:
    policy = BreakerPolicy(consecutive_failures=3, min_requests=1000, window_s=10)
    b = on_failure(on_failure(CLOSED, policy, 0.0), policy, 0.0)
    b = on_failure(b, policy, 20.0)  # the two before it are older than the window
    assert b.state is BreakerState.CLOSED and b.streak == 1


def test_without_consecutive_failures_only_the_rate_judges() -> None:
    policy = BreakerPolicy(consecutive_failures=None)
    b = CLOSED
    for i in range(100):
        b = on_success(b, policy, i / 10)
    for _ in range(99):
        b = on_failure(b, policy, 10.0)
    assert b.state is BreakerState.CLOSED
    assert on_failure(b, policy, 10.0).state is BreakerState.OPEN  # 100 of 200


@given(
    st.integers(min_value=0, max_value=2000),
    st.floats(min_value=0, max_value=29),
    st.integers(min_value=1, max_value=20),
)
def test_k_failures_in_a_row_open_it_at_the_kth(successes: int, spread_s: float, k: int) -> None:
    policy = BreakerPolicy(consecutive_failures=k, min_requests=10**6)  # the rate never judges here
    b = CLOSED
    for i in range(successes):
        b = on_success(b, policy, spread_s * i / max(1, successes))
    for i in range(k):
        assert b.state is BreakerState.CLOSED and b.streak == i
        b = on_failure(b, policy, spread_s + i * 0.01)
    assert b.state is BreakerState.OPEN


def test_open_refuses_until_the_cooldown_then_lets_exactly_one_probe() -> None:
    b = opened(at=100.0)
    assert allow(b, POLICY, 129.9) == (False, b)
    ok, half = allow(b, POLICY, 130.0)
    assert ok
    assert half.state is BreakerState.HALF_OPEN
    assert half.probe_in_flight
    assert allow(half, POLICY, 130.0)[0] is False
    assert allow(half, POLICY, 145.0)[0] is False


def test_probe_success_closes_with_a_cleared_window() -> None:
    _, half = allow(opened(), POLICY, 30.0)
    assert on_success(half, POLICY, 31.0) == CLOSED


def test_probe_failure_reopens_with_a_new_opened_at() -> None:
    _, half = allow(opened(), POLICY, 30.0)
    b = on_failure(half, POLICY, 31.0)
    assert b.state is BreakerState.OPEN
    assert b.opened_at == 31.0
    assert not b.probe_in_flight
    assert allow(b, POLICY, 60.0)[0] is False
    assert allow(b, POLICY, 61.0)[0] is True


def test_a_lost_probe_is_replaced_after_the_cooldown() -> None:
    _, half = allow(opened(), POLICY, 30.0)
    ok, again = allow(half, POLICY, 60.0)
    assert ok
    assert again.probe_started_at == 60.0


def test_late_outcomes_do_not_change_an_open_breaker() -> None:
    b = opened()
    assert on_success(b, POLICY, 1.0) is b
    assert on_failure(b, POLICY, 1.0) is b


def test_window_stays_small_at_any_request_rate() -> None:
    b = CLOSED
    for i in range(10_000):
        b = on_success(b, POLICY, i / 100)  # 100 requests a second for 100 seconds
    assert len(b.window) <= POLICY.window_s / POLICY.bucket_s + 1
    assert sum(counts(b.window)) <= 3100


def test_board_admit_claims_the_probe_once() -> None:
    board = BreakerBoard()
    for _ in range(5):
        record(board, "a", False, POLICY, 0.0)
    assert board.get("a").state is BreakerState.OPEN
    assert not admit(board, "a", POLICY, 10.0)
    assert admit(board, "a", POLICY, 30.0)
    assert not admit(board, "a", POLICY, 30.0)
    record(board, "a", True, POLICY, 31.0)
    assert board.get("a") == CLOSED
    assert BreakerBoard().get("a") is CLOSED
    assert board.snapshot()["a"] == CLOSED


events = st.lists(
    st.tuples(st.sampled_from(["allow", "ok", "fail"]), st.floats(min_value=0, max_value=20)), max_size=80
)


@given(events)
def test_invariants_over_any_history(history: list[tuple[str, float]]) -> None:
    b, now = CLOSED, 0.0
    for event, dt in history:
        now += dt
        if event == "allow":
            before = b
            ok, b = allow(b, POLICY, now)
            if before.state is BreakerState.CLOSED:
                assert ok
            if before.state is BreakerState.HALF_OPEN and ok:
                assert now - (before.probe_started_at or 0.0) >= POLICY.cooldown_s
            if ok and b.state is BreakerState.HALF_OPEN:
                assert b.probe_started_at == now
                assert allow(b, POLICY, now)[0] is False  # exactly one probe
        elif event == "ok":
            b = on_success(b, POLICY, now)
        else:
            b = on_failure(b, POLICY, now)
        if b.state is not BreakerState.CLOSED:
            assert b.opened_at is not None
            assert b.window == ()
        else:
            assert POLICY.consecutive_failures is not None and b.streak < POLICY.consecutive_failures
            assert b.streak <= counts(b.window)[1]
            if event == "ok":
                assert b.streak == 0
        ok_count, failed = counts(b.window)
        total = ok_count + failed
        if b.state is BreakerState.CLOSED and total >= POLICY.min_requests:
            assert failed / total < POLICY.failure_rate_threshold or event != "fail"
