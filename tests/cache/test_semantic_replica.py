"""A gateway's copies of Redis buckets (`cache.semantic_replica`): pure, bytes in, matrices out."""

from __future__ import annotations

import numpy as np

from oneflow_ai.cache.semantic_replica import Replicas


def vec(*values: float) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def test_advance_puts_the_new_in_front_and_keeps_the_capacity() -> None:
    replicas = Replicas(capacity=3, max_vectors=100)
    copy = replicas.replace("b", b"id1", 2, [vec(0, 1), vec(1, 0)], [b"m2", b"m1"], dim=2)
    assert copy is not None and copy.metas == [b"m2", b"m1"]
    assert replicas.seen("b", 2) == (b"id1", 2)
    copy = replicas.advance("b", b"id1", 4, [vec(1, 1), vec(2, 2)], [b"m4", b"m3"])
    assert copy is not None and copy.metas == [b"m4", b"m3", b"m2"] and copy.pushes == 4
    np.testing.assert_array_equal(copy.matrix, [[1, 1], [2, 2], [0, 1]])
    assert len(replicas) == 3


def test_a_later_read_already_applied_is_not_applied_twice() -> None:
    replicas = Replicas(capacity=10, max_vectors=100)
    replicas.replace("b", b"id1", 1, [vec(1, 0)], [b"m1"], dim=2)
    assert replicas.advance("b", b"id1", 2, [vec(0, 1)], [b"m2"]) is not None
    copy = replicas.advance("b", b"id1", 2, [vec(0, 1)], [b"m2"])  # the same answer, read by a concurrent lookup
    assert copy is not None and copy.metas == [b"m2", b"m1"]


def test_a_gone_bucket_or_another_id_drops_the_copy() -> None:
    replicas = Replicas(capacity=10, max_vectors=100)
    replicas.replace("b", b"id1", 1, [vec(1, 0)], [b"m1"], dim=2)
    assert replicas.advance("b", None, 0, [], []) is None and replicas.seen("b", 2) == (b"", 0)
    replicas.replace("b", b"id1", 1, [vec(1, 0)], [b"m1"], dim=2)
    assert replicas.advance("b", b"id2", 1, [], []) is None and len(replicas) == 0


def test_vectors_of_another_length_are_left_out() -> None:
    replicas = Replicas(capacity=10, max_vectors=100)
    copy = replicas.replace("b", b"id1", 2, [vec(1, 0, 0), vec(0, 1)], [b"long", b"ok"], dim=2)
    assert copy is not None and copy.metas == [b"ok"]
    assert replicas.seen("b", 3) == (b"", 0)  # asked with vectors of 3: this copy is no use, read again


def test_copies_are_bounded_least_recently_used_first() -> None:
    replicas = Replicas(capacity=3, max_vectors=4)
    three = [vec(1, 0)] * 3
    replicas.replace("old", b"i", 3, three, [b"a", b"b", b"c"], dim=2)
    replicas.replace("new", b"i", 3, three, [b"a", b"b", b"c"], dim=2)
    assert len(replicas) == 3 and replicas.seen("old", 2) == (b"", 0) and replicas.seen("new", 2) == (b"i", 3)
