from oneflow_ai.routing.breaker import CLOSED, Breaker, BreakerState, Bucket
from oneflow_ai.routing.shared import adopted, changed, decode, encode, published, same

# Two processes: A's monotonic clock reads 100 when the wall clock reads 5000; B's reads 7 at that moment.
A_MONO, B_MONO, WALL = 100.0, 7.0, 5000.0


def test_only_transitions_are_worth_publishing() -> None:
    counted = Breaker(window=(Bucket(99.0, 3, 1),))
    assert not changed(CLOSED, counted)
    opened = Breaker(BreakerState.OPEN, opened_at=99.0)
    assert changed(counted, opened)
    assert changed(opened, Breaker(BreakerState.HALF_OPEN, opened_at=99.0, probe_started_at=100.0))
    assert changed(opened, Breaker(BreakerState.OPEN, opened_at=100.0))


def test_times_travel_as_wall_clock_and_come_back_on_the_receivers_clock() -> None:
    opened = Breaker(BreakerState.OPEN, opened_at=A_MONO - 2.0)
    t = published("gpt/0", opened, "a", A_MONO, WALL)
    assert t.opened_at == WALL - 2.0 and t.at == WALL
    assert decode(encode(t)) == t
    got = adopted(t, B_MONO, WALL)
    assert got.state is BreakerState.OPEN and got.opened_at == B_MONO - 2.0 and got.window == ()
    assert same(got, t, B_MONO, WALL)
    assert not same(CLOSED, t, B_MONO, WALL)


def test_a_probe_and_a_close() -> None:
    probing = Breaker(BreakerState.HALF_OPEN, opened_at=A_MONO - 30, probe_started_at=A_MONO)
    got = adopted(published("d", probing, "a", A_MONO, WALL), B_MONO, WALL)
    assert got.probe_in_flight and got.probe_started_at == B_MONO
    assert adopted(published("d", CLOSED, "a", A_MONO, WALL), B_MONO, WALL) is CLOSED


def test_malformed_messages_are_ignored() -> None:
    for raw in (b"", b"{}", b"[1]", b'{"id": "d", "state": "melted", "at": 1}', b'{"id": "d", "state": "open"}'):
        assert decode(raw) is None
