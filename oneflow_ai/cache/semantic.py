"""Semantic matching: a `SemanticIndex` (`cache.semantic_index`) over an `Embedder`, in process or in Redis.

A lookup embeds the text (lower-cased, punctuation as spaces: `embedding_text`), compares it with the vectors
stored under the same ``(scope, model, rest_key)`` (the rest of the request is equal by construction, and a scope
never sees another's vectors), and answers the most similar entry whose cosine similarity is at least the model's
threshold (`SemanticSettings.threshold_for`, default 0.92) **and** whose near-miss signature is equal
(`cache.semantic_guard`: same numbers, negations and names). The text's vector and signature are memoised for the
`add` that follows a miss, so a text is embedded once. A failed embedding is a miss, never a failed call.

`LocalSemanticIndex` keeps vectors in process (`cache.semantic_vectors`); `RedisSemanticIndex`
(`cache.semantic_redis`) shares them between replicas. Requires numpy (the `semantic` extra).
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from oneflow_ai.auth.principal import Principal
from oneflow_ai.cache.embedders import Embedder, EmbeddingUnavailable
from oneflow_ai.cache.semantic_guard import signature
from oneflow_ai.cache.semantic_vectors import LocalVectors, Match, Vector

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.92
_PUNCTUATION = re.compile(r"[^\w\s']+")
MEMO_SIZE = 256


@dataclass(frozen=True, slots=True)
class SemanticSettings:
    threshold: float = DEFAULT_THRESHOLD
    thresholds: Mapping[str, float] = field(default_factory=dict)
    """Per model group: its own threshold."""
    bucket_capacity: int = 500
    """Vectors per (scope, model, rest_key): at most this many are scanned by a lookup (in Redis, each is 1 KiB
    read per lookup: ~1.5 ms for 500, `python -m bench.semantic_cache --redis`)."""
    max_entries: int = 20_000
    """Vectors this process keeps in all (256 float32 each: ~1 KiB, so ~20 MiB): the in-process index, or the
    copies of Redis buckets."""
    guard: bool = True
    """The near-miss guard (`cache.semantic_guard`); off only to measure what it changes."""

    def threshold_for(self, model: str) -> float:
        return self.thresholds.get(model, self.threshold)


@dataclass(slots=True)
class SemanticStats:
    """What lookups cost, for metrics and the benchmark: counts, vectors scanned, seconds spent searching."""

    lookups: int = 0
    hits: int = 0
    scanned: int = 0
    search_s: float = 0.0
    failures: int = 0
    fetched: int = 0
    """Vectors read from Redis (the shared index)."""


def embedding_text(text: str) -> str:
    """What is embedded: lower case, punctuation as spaces (case and commas say little about meaning; the guard
    reads the original text)."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


class Embedded:
    """Vectors and signatures of recent texts, so that the `add` after a miss does not embed again."""

    __slots__ = ("_embedder", "_memo", "guard")

    def __init__(self, embedder: Embedder, guard: bool) -> None:
        self._embedder = embedder
        self._memo: OrderedDict[str, tuple[Vector, str]] = OrderedDict()
        self.guard = guard

    async def of(self, text: str, principal: Principal | None) -> tuple[Vector, str]:
        found = self._memo.get(text)
        if found is not None:
            return found
        vectors = await self._embedder.embed([embedding_text(text)], principal)
        made = (vectors[0], signature(text) if self.guard else "")
        self._memo[text] = made
        if len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)
        return made


class LocalSemanticIndex:
    """The vectors of this process."""

    def __init__(self, embedder: Embedder, settings: SemanticSettings | None = None, dim: int | None = None) -> None:
        self.settings = settings or SemanticSettings()
        self.stats = SemanticStats()
        self._embedded = Embedded(embedder, self.settings.guard)
        self._vectors: LocalVectors | None = None
        self._dim = dim or embedder.dim
        self._tick = 0

    def __len__(self) -> int:
        return 0 if self._vectors is None else len(self._vectors)

    async def lookup(
        self, scope: str, model: str, rest_key: str, text: str, principal: Principal | None = None
    ) -> tuple[str, float] | None:
        self.stats.lookups += 1
        try:
            vector, sig = await self._embedded.of(text, principal)
        except EmbeddingUnavailable as e:
            self.stats.failures += 1
            log.warning("semantic cache lookup skipped: %s", e)
            return None
        if self._vectors is None or len(vector) != self._vectors.dim:
            return None  # nothing yet, or a vector of another length (a fallback to another embeddings model)
        self._tick += 1
        started = time.perf_counter()
        threshold = self.settings.threshold_for(model)
        match = self._vectors.best((scope, model, rest_key), vector, sig, threshold, self._tick)
        self.stats.search_s += time.perf_counter() - started
        return found_entry(self.stats, match)

    async def add(
        self, scope: str, model: str, rest_key: str, text: str, entry_key: str, principal: Principal | None = None
    ) -> None:
        try:
            vector, sig = await self._embedded.of(text, principal)
        except EmbeddingUnavailable as e:
            self.stats.failures += 1
            log.warning("semantic cache entry not indexed: %s", e)
            return
        if self._vectors is None:
            s = self.settings
            self._vectors = LocalVectors(self._dim or len(vector), s.bucket_capacity, s.max_entries)
        if len(vector) != self._vectors.dim:
            return
        self._tick += 1
        self._vectors.add((scope, model, rest_key), vector, sig, entry_key, self._tick)

    async def clear(self, scope: str | None, model: str | None) -> None:
        if self._vectors is not None:
            self._vectors.clear(lambda k: (scope is None or k[0] == scope) and (model is None or k[1] == model))


def found_entry(stats: SemanticStats, match: Match | None) -> tuple[str, float] | None:
    """A match as the index answers it (entry key, similarity), counted."""
    if match is None:
        return None
    stats.hits += 1
    return match.entry_key, match.similarity
