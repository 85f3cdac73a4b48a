"""Vectors in process: a bucket per (scope, model, rest_key), bounded in all, searched with numpy.

Pure: vectors and keys in, matches out; `tick` (a counter the caller advances) orders use, so nothing here reads
a clock. A bucket holds at most `bucket_capacity` vectors (so a lookup scans at most that many); all buckets
together hold at most `max_entries`, and adding past either bound evicts the least recently used entry (of the
bucket, or of the least recently used bucket). Requires numpy (the `semantic` extra).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Match:
    entry_key: str
    similarity: float


def best_match(
    matrix: Vector, keys: list[str], signatures: list[str], query: Vector, signature: str, threshold: float
) -> tuple[int, Match] | None:
    """The most similar row at or above `threshold` whose near-miss signature equals `signature`."""
    if not keys:
        return None
    similarities = matrix @ query
    candidates = np.flatnonzero(similarities >= threshold)
    for i in candidates[np.argsort(-similarities[candidates], kind="stable")]:
        if signatures[i] == signature:
            return int(i), Match(keys[i], float(similarities[i]))
    return None


class VectorBucket:
    """The vectors of one bucket, unit length, in one contiguous matrix (removal moves the last row in)."""

    __slots__ = ("_keys", "_matrix", "_rows", "_signatures", "_used")

    def __init__(self, dim: int, capacity: int) -> None:
        self._matrix: Vector = np.zeros((capacity, dim), dtype=np.float32)
        self._keys: list[str] = []
        self._signatures: list[str] = []
        self._used: list[int] = []
        self._rows: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, entry_key: object) -> bool:
        return entry_key in self._rows

    @property
    def full(self) -> bool:
        return len(self._keys) == int(self._matrix.shape[0])

    def best(self, query: Vector, signature: str, threshold: float, tick: int) -> Match | None:
        n = len(self._keys)
        found = best_match(self._matrix[:n], self._keys, self._signatures, query, signature, threshold)
        if found is None:
            return None
        self._used[found[0]] = tick
        return found[1]

    def add(self, vector: Vector, signature: str, entry_key: str, tick: int) -> None:
        """Store (or refresh) `entry_key`; the caller makes room first (`evict_one` when `full`)."""
        row = self._rows.get(entry_key)
        if row is None:
            row = len(self._keys)
            self._keys.append(entry_key)
            self._signatures.append(signature)
            self._used.append(tick)
            self._rows[entry_key] = row
        self._matrix[row] = vector
        self._signatures[row] = signature
        self._used[row] = tick

    def evict_one(self) -> None:
        """Drop the least recently used entry."""
        row = min(range(len(self._used)), key=self._used.__getitem__)
        last = len(self._keys) - 1
        del self._rows[self._keys[row]]
        if row != last:
            self._matrix[row] = self._matrix[last]
            self._keys[row], self._signatures[row], self._used[row] = (
                self._keys[last], self._signatures[last], self._used[last],
            )  # fmt: skip
            self._rows[self._keys[row]] = row
        self._keys.pop()
        self._signatures.pop()
        self._used.pop()


class LocalVectors:
    """Every bucket of one process, least recently used first."""

    __slots__ = ("_buckets", "_count", "bucket_capacity", "dim", "max_entries")

    def __init__(self, dim: int, bucket_capacity: int, max_entries: int) -> None:
        if bucket_capacity < 1 or max_entries < 1:
            raise ValueError("bucket_capacity and max_entries must be at least 1")
        self.dim = dim
        self.bucket_capacity = bucket_capacity
        self.max_entries = max_entries
        self._buckets: OrderedDict[tuple[str, str, str], VectorBucket] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def best(
        self, bucket: tuple[str, str, str], query: Vector, signature: str, threshold: float, tick: int
    ) -> Match | None:
        found = self._buckets.get(bucket)
        if found is None:
            return None
        self._buckets.move_to_end(bucket)
        return found.best(query, signature, threshold, tick)

    def add(self, bucket: tuple[str, str, str], vector: Vector, signature: str, entry_key: str, tick: int) -> None:
        target = self._buckets.get(bucket)
        if target is None:
            target = self._buckets[bucket] = VectorBucket(self.dim, self.bucket_capacity)
        self._buckets.move_to_end(bucket)
        if entry_key not in target:
            if target.full:
                target.evict_one()
            else:
                self._count += 1
        target.add(vector, signature, entry_key, tick)
        while self._count > self.max_entries:
            self._evict_oldest()

    def clear(self, selected: Callable[[tuple[str, str, str]], bool]) -> None:
        """Drop every bucket `selected` says to (its key is `(scope, model, rest_key)`)."""
        for key in [k for k in self._buckets if selected(k)]:
            self._count -= len(self._buckets.pop(key))

    def _evict_oldest(self) -> None:
        key, oldest = next(iter(self._buckets.items()))
        oldest.evict_one()
        self._count -= 1
        if not len(oldest):
            del self._buckets[key]
