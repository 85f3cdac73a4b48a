"""Semantic matching shared by every replica through Redis, searched in the gateway.

This machine's Redis has no vector search, so Redis only keeps the vectors and the gateway compares them. Each
``(scope, model, rest_key)`` bucket is two Redis lists side by side, ``<prefix>sem:<scope>:<model>:<rest_key>:v``
(each vector as little-endian float32 bytes) and ``...:m`` (its entry key and near-miss signature), scope and model
percent-encoded, so a key names its tenant and a pattern selects a tenant's or a model's buckets. `add` pushes
onto both in one transaction (``MULTI``), the newest first, trims both to `bucket_capacity` (the oldest go) and
renews their expiry (`ttl_s`). `lookup` reads both in one transaction (one round trip, the lists aligned), so it
scans at most `bucket_capacity` vectors whatever was added: the vectors are read in one ``frombuffer`` and compared
in one matrix product; only the candidates at or above the threshold have their entry key and signature decoded.
Each lookup is counted in `stats` (`scanned`, `search_s`). A vector of one scope is never read for another: the
scope is in the key. A Redis that fails makes the lookup a miss (and the add a no-op), never a failed call.
"""

from __future__ import annotations

import logging
import struct
import time
from urllib.parse import quote

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from oneflow_ai.auth.principal import Principal
from oneflow_ai.cache.embedders import Embedder, EmbeddingUnavailable
from oneflow_ai.cache.semantic import Embedded, SemanticSettings, SemanticStats, _found
from oneflow_ai.cache.semantic_vectors import Match, Vector

log = logging.getLogger(__name__)
_LENGTH = struct.Struct("<H")


def pack_meta(entry_key: str, signature: str) -> bytes:
    key = entry_key.encode()
    return _LENGTH.pack(len(key)) + key + signature.encode()


def unpack_meta(element: bytes) -> tuple[str, str]:
    (n,) = _LENGTH.unpack_from(element, 0)
    return element[2 : 2 + n].decode(), element[2 + n :].decode()


def bucket_key(prefix: str, scope: str, model: str, rest_key: str) -> str:
    """The bucket's name; its lists are this with ``:v`` (vectors) and ``:m`` (entry keys and signatures)."""
    return f"{prefix}sem:{quote(scope, safe='')}:{quote(model, safe='')}:{quote(rest_key, safe='')}"


class RedisSemanticIndex:
    def __init__(
        self,
        redis: Redis,
        embedder: Embedder,
        settings: SemanticSettings | None = None,
        *,
        prefix: str = "oneflow:cache:",
        ttl_s: int = 86_400,
    ) -> None:
        self.settings = settings or SemanticSettings()
        self.stats = SemanticStats()
        self._redis = redis
        self._embedded = Embedded(embedder, self.settings.guard)
        self._prefix = prefix
        self._ttl_s = ttl_s

    async def lookup(
        self, scope: str, model: str, rest_key: str, text: str, principal: Principal | None = None
    ) -> tuple[str, float] | None:
        self.stats.lookups += 1
        key = bucket_key(self._prefix, scope, model, rest_key)
        try:
            vector, sig = await self._embedded.of(text, principal)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lrange(key + ":v", 0, self.settings.bucket_capacity - 1)
                pipe.lrange(key + ":m", 0, self.settings.bucket_capacity - 1)
                vectors, metas = await pipe.execute()
        except (EmbeddingUnavailable, RedisError) as e:
            self.stats.failures += 1
            log.warning("semantic cache lookup skipped: %s", e)
            return None
        started = time.perf_counter()
        found = self._search(vectors, metas, vector, sig, self.settings.threshold_for(model))
        self.stats.scanned += len(vectors)
        self.stats.search_s += time.perf_counter() - started
        return _found(self.stats, found)

    @staticmethod
    def _search(vectors: list[bytes], metas: list[bytes], query: Vector, sig: str, threshold: float) -> Match | None:
        size = query.nbytes
        if not vectors or len(vectors) != len(metas) or any(len(v) != size for v in vectors):
            return None  # empty, or written by another embedder (another length): nothing comparable
        matrix = np.frombuffer(b"".join(vectors), dtype="<f4").reshape(len(vectors), -1)
        similarities = matrix @ query
        candidates = np.flatnonzero(similarities >= threshold)
        for i in candidates[np.argsort(-similarities[candidates], kind="stable")]:
            entry_key, signature = unpack_meta(metas[i])
            if signature == sig:
                return Match(entry_key, float(similarities[i]))
        return None

    async def add(
        self, scope: str, model: str, rest_key: str, text: str, entry_key: str, principal: Principal | None = None
    ) -> None:
        key = bucket_key(self._prefix, scope, model, rest_key)
        last = self.settings.bucket_capacity - 1
        try:
            vector, sig = await self._embedded.of(text, principal)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lpush(key + ":v", vector.astype("<f4", copy=False).tobytes())
                pipe.lpush(key + ":m", pack_meta(entry_key, sig))
                for part in (":v", ":m"):
                    pipe.ltrim(key + part, 0, last)
                    pipe.expire(key + part, self._ttl_s)
                await pipe.execute()
        except (EmbeddingUnavailable, RedisError) as e:
            self.stats.failures += 1
            log.warning("semantic cache entry not indexed: %s", e)

    async def clear(self, scope: str | None, model: str | None) -> None:
        scope_part = "*" if scope is None else quote(scope, safe="")
        model_part = "*" if model is None else quote(model, safe="")
        pattern = f"{_glob_escape(self._prefix)}sem:{scope_part}:{model_part}:*"  # both lists of each bucket
        batch: list[bytes | str] = []
        async for key in self._redis.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) == 500:
                await self._redis.unlink(*batch)
                batch = []
        if batch:
            await self._redis.unlink(*batch)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
