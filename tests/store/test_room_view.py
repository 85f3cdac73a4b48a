"""`RoomView`: when this replica may admit a call on its recent view of Redis's counters, and how answers keep it
true (its own charges on the way never counted twice, never missed)."""

from __future__ import annotations

import pytest

from oneflow_ai.store.room_view import HEADROOM, MAX_SHARE, UNCONFIRMED, Item, RoomView


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def known(view: RoomView, key: str, room: float, capacity: float = 10_000, refill: float = 0.0) -> Item:
    """A counter Redis has just answered for (a call of cost 0 sent and answered)."""
    probe = Item(key, 0, capacity, refill)
    view.sent([probe])
    view.answered([probe], [room])
    return Item(key, 1, capacity, refill)


def test_a_counter_never_answered_for_is_left_to_redis() -> None:
    assert RoomView(0.1, Clock()).take([Item("k", 1, 10_000, 0)]) is None


def test_a_recent_roomy_counter_is_charged_here() -> None:
    view = RoomView(0.1, Clock())
    call = known(view, "k", 9_000)
    assert view.take([call]) == [8_999]
    assert view.take([call]) == [8_998]


def test_stale_small_or_nearly_full_counters_are_left_to_redis() -> None:
    clock = Clock()
    view = RoomView(0.1, clock)
    call = known(view, "k", 9_000)
    clock.now += 0.11
    assert view.take([call]) is None  # not heard about within 0.1 s
    call = known(view, "k", 9_000)
    assert view.take([call._replace(cost=10_000 * MAX_SHARE + 1)]) is None  # a call too large a share of it
    edge = 10_000 * HEADROOM
    known(view, "k", edge + 1)
    assert view.take([call]) == [edge]  # leaves exactly the headroom: still here
    assert view.take([call]) is None  # would dip into it: Redis decides


def test_all_or_nothing_across_counters() -> None:
    view = RoomView(0.1, Clock())
    roomy, tight = known(view, "a", 9_000), known(view, "b", 2_000)
    assert view.take([roomy, tight]) is None
    assert view.take([roomy]) == [8_999]  # the refused call charged nothing


def test_buckets_refill_on_the_view_and_stop_at_capacity() -> None:
    clock = Clock()
    view = RoomView(1.0, clock)
    call = known(view, "k", 5_000, capacity=10_000, refill=1_000)
    clock.now += 0.5
    assert view.take([call]) == [5_499]
    clock.now += 0.4
    assert view.take([call]) == [pytest.approx(5_898)]
    view.answered([], [])
    call = known(view, "k", 9_990, capacity=10_000, refill=1_000)
    clock.now += 0.5
    assert view.take([call]) == [9_999]


def test_an_answer_counts_this_replicas_charges_still_on_the_way() -> None:
    view = RoomView(0.1, Clock())
    call = known(view, "k", 9_000)
    first, second = [call], [call._replace(cost=5)]
    assert view.take(first) == [8_999]  # charged here, and on its way to Redis
    assert view.take(second) == [8_994]
    # Redis answers for the first: 8,000 left there (other replicas took 999), before the second arrived.
    view.answered(first, [8_000])
    assert view.take([call._replace(cost=0)]) == [7_995]
    view.answered(second, [7_995])
    assert view.take([call._replace(cost=0)]) == [7_995]


def test_a_failed_round_trip_forgets_the_counter() -> None:
    view = RoomView(0.1, Clock())
    call = known(view, "k", 9_000)
    view.sent([call])  # a call Redis decides
    view.answered([call], None)
    assert view.take([call]) is None


def test_charges_after_the_fact_move_the_view_at_once() -> None:
    view = RoomView(0.1, Clock())
    call = known(view, "k", 9_000)
    view.charge([call._replace(cost=500), Item("unknown", 5, 10_000, 0)])
    assert view.take([call]) == [8_499]


def test_an_age_of_zero_turns_the_view_off() -> None:
    view = RoomView(0.0, Clock())
    call = known(view, "k", 9_000)
    assert view.take([call]) is None


def test_charges_redis_has_not_answered_for_are_capped_at_a_share_of_the_counter() -> None:
    view = RoomView(0.1, Clock())
    call = known(view, "k", 10_000)._replace(cost=10)
    for _ in range(int(10_000 * UNCONFIRMED) // 10):
        assert view.take([call]) is not None
    assert view.take([call]) is None  # 5 % charged here and not yet confirmed: Redis decides
    view.answered([call] * 50, [9_500 - 10 * i for i in range(1, 51)])  # an answer for all of them
    assert view.take([call]) is not None
