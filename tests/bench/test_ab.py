"""`bench.ab`: the load alternates between the two gateways with each pair in both orders, and the change is this
version's median req/s against the baseline's."""

from __future__ import annotations

from bench.ab import change, order


def test_every_pair_is_taken_in_both_orders() -> None:
    assert order(4) == [0, 1, 1, 0, 0, 1, 1, 0]
    assert order(3).count(0) == order(3).count(1) == 3


def test_the_change_compares_medians() -> None:
    assert change([110.0, 90.0, 100.0], [100.0, 50.0, 200.0]) == 0.0  # medians 100 and 100, whatever the spread
    assert round(change([105.0], [100.0]), 6) == 5.0
    assert round(change([2352.0], [2354.0]), 1) == -0.1
