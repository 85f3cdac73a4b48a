"""This gateway's copy of the Redis buckets it has read, so that a lookup reads only what was added since.

A Redis bucket (`cache.semantic_redis`) has an id (random, set by its first add: a bucket that expired or was
cleared comes back with another), a push count, and its two lists, newest first. A lookup sends the id and
count its copy has seen (`seen`) and gets, in one round trip, the bucket's id and count and only the elements
pushed since, which `advance` puts in front of the copy (trimmed to the bucket's capacity); when the copy is of
another id (or there is none) or too far behind, it gets the whole bucket, which `replace`s the copy. Copies
are kept least recently used first, at most `max_vectors` vectors in all. Pure: bytes in, matrices out; no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from oneflow_ai.cache.semantic_vectors import Vector


@dataclass(slots=True)
class Copy:
    bucket_id: bytes
    pushes: int
    matrix: Vector
    """One row per vector, newest first."""
    metas: list[bytes]
    """Each row's entry key and signature, packed (decoded only for a candidate)."""


def rows_of(vectors: list[bytes], metas: list[bytes], dim: int) -> tuple[Vector, list[bytes]]:
    """The vectors of length `dim` as rows, with their metas; a vector of another length (written with another
    embeddings model, e.g. a fallback deployment's) is left out."""
    size = dim * 4
    kept = [i for i, v in enumerate(vectors) if len(v) == size]
    if len(kept) < len(vectors):
        vectors, metas = [vectors[i] for i in kept], [metas[i] for i in kept]
    matrix = np.frombuffer(b"".join(vectors), dtype="<f4").reshape(len(vectors), dim).astype(np.float32)
    return matrix, metas


class Replicas:
    __slots__ = ("_copies", "_count", "capacity", "max_vectors")

    def __init__(self, capacity: int, max_vectors: int) -> None:
        self.capacity = capacity
        self.max_vectors = max_vectors
        self._copies: OrderedDict[str, Copy] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def seen(self, key: str, dim: int) -> tuple[bytes, int]:
        """The bucket id and push count of the copy of `key` (empty and 0 when there is none, or when it holds
        vectors of another length than `dim`: it is dropped, to be read again)."""
        copy = self._copies.get(key)
        if copy is not None and copy.matrix.shape[1] != dim:
            self.drop(key)
            copy = None
        return (b"", 0) if copy is None else (copy.bucket_id, copy.pushes)

    def advance(
        self, key: str, bucket_id: bytes | None, pushes: int, newest: list[bytes], metas: list[bytes]
    ) -> Copy | None:
        """The copy of `key` with the elements pushed since `seen` put in front (`newest`, newest first); None when
        the bucket is empty (or the copy went meanwhile)."""
        copy = self._copies.get(key)
        if bucket_id is None or copy is None or copy.bucket_id != bucket_id:
            self.drop(key)
            return None
        self._copies.move_to_end(key)
        new = min(pushes - copy.pushes, len(newest), len(metas))  # another lookup may have advanced it meanwhile
        if new <= 0:
            return copy
        rows, kept = rows_of(newest[:new], metas[:new], copy.matrix.shape[1])
        before = len(copy.metas)
        copy.matrix = np.concatenate([rows, copy.matrix])[: self.capacity]
        copy.metas = (kept + copy.metas)[: self.capacity]
        copy.pushes = pushes
        self._grown(len(copy.metas) - before)
        return copy

    def replace(
        self, key: str, bucket_id: bytes | None, pushes: int, vectors: list[bytes], metas: list[bytes], dim: int
    ) -> Copy | None:
        """The copy of `key` made from the whole bucket (None: there is no bucket)."""
        self.drop(key)
        if bucket_id is None or len(vectors) != len(metas):
            return None
        matrix, metas = rows_of(vectors, metas, dim)
        copy = self._copies[key] = Copy(bucket_id, pushes, matrix[: self.capacity], metas[: self.capacity])
        self._grown(len(copy.metas))
        return copy

    def drop(self, key: str) -> None:
        copy = self._copies.pop(key, None)
        if copy is not None:
            self._count -= len(copy.metas)

    def _grown(self, added: int) -> None:
        self._count += added
        while self._count > self.max_vectors and len(self._copies) > 1:
            _, oldest = self._copies.popitem(last=False)
            self._count -= len(oldest.metas)
