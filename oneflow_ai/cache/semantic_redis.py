"""Semantic matching shared by every replica through Redis, searched in the gateway.

This machine's Redis has no vector search, so Redis keeps the vectors and the gateway compares them. Each
``(scope, model, rest_key)`` bucket is, under ``<prefix>sem:<scope>:<model>:<rest_key>`` (scope and model
percent-encoded, so a key names its tenant and a pattern selects a tenant's or a model's buckets): ``:v``, a list
of vectors (little-endian float32 bytes), ``:m``, the aligned list of their entry keys and near-miss signatures,
``:n``, how many were ever pushed, and ``:id``, a random id set by the bucket's first add (a bucket that expired
or was cleared comes back with another). `add` pushes onto both lists in one transaction (``MULTI``), the newest
first, trims both to `bucket_capacity` (the oldest go) and renews every part's expiry (`ttl_s`).

A lookup is one round trip (the Lua script `READ`): this gateway keeps a copy of each bucket it read
(`cache.semantic_replica`) and sends the id and push count its copy has seen; Redis answers with only the
elements pushed since (none in the steady state), or with the whole bucket (at most `bucket_capacity` vectors)
when the copy is missing, of another id or too far behind. The copy is compared in one matrix product; only the
candidates at or above the threshold have their entry key and signature decoded. A lookup scans at most
`bucket_capacity` vectors; `stats` counts them (`scanned`), the vectors read from Redis (`fetched`) and the time
spent (`search_s`). A vector of one scope is never read for another: the scope is in the key. A Redis that
fails makes the lookup a miss (and the add a no-op), never a failed call. (Keys of one bucket are not
hash-tagged: a Redis Cluster would need ``{...}`` around the bucket's name.)
"""

from __future__ import annotations

import logging
import secrets
import struct
import time
from urllib.parse import quote

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from oneflow_ai.auth.principal import Principal
from oneflow_ai.cache.embedders import Embedder, EmbeddingUnavailable
from oneflow_ai.cache.semantic import Embedded, SemanticSettings, SemanticStats, found_entry
from oneflow_ai.cache.semantic_replica import Copy, Replicas
from oneflow_ai.cache.semantic_vectors import Match, Vector

log = logging.getLogger(__name__)
_LENGTH = struct.Struct("<H")
READ = """
local id = redis.call('GET', KEYS[1])
local pushes = tonumber(redis.call('GET', KEYS[2]) or '0')
local capacity = tonumber(ARGV[3])
if not id then
  return {false, 0, {}, {}, 0}
end
local count = capacity
local full = 1
if id == ARGV[1] then
  local new = pushes - tonumber(ARGV[2])
  if new <= 0 then
    return {id, pushes, {}, {}, 0}
  end
  if new < capacity then
    count = new
    full = 0
  end
end
return {id, pushes, redis.call('LRANGE', KEYS[3], 0, count - 1), redis.call('LRANGE', KEYS[4], 0, count - 1), full}
"""
"""A lookup's one round trip, given this gateway's copy (its bucket id and push count): the bucket's id and push
count, and the elements pushed since the copy (newest first), or every element (`full`) when the copy is of
another id (or none) or further behind than the bucket holds."""


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
        self._replicas = Replicas(self.settings.bucket_capacity, self.settings.max_entries)
        self._read = redis.register_script(READ)

    async def lookup(
        self, scope: str, model: str, rest_key: str, text: str, principal: Principal | None = None
    ) -> tuple[str, float] | None:
        self.stats.lookups += 1
        key = bucket_key(self._prefix, scope, model, rest_key)
        try:
            vector, sig = await self._embedded.of(text, principal)
            copy = await self._copy(key, len(vector))
        except (EmbeddingUnavailable, RedisError) as e:
            self.stats.failures += 1
            log.warning("semantic cache lookup skipped: %s", e)
            return None
        if copy is None:
            return None
        started = time.perf_counter()
        found = _search(copy, vector, sig, self.settings.threshold_for(model))
        self.stats.scanned += len(copy.metas)
        self.stats.search_s += time.perf_counter() - started
        return found_entry(self.stats, found)

    async def _copy(self, key: str, dim: int) -> Copy | None:
        """This gateway's copy of the bucket, brought up to date in one round trip (`READ`)."""
        seen_id, seen_pushes = self._replicas.seen(key, dim)
        keys = [key + ":id", key + ":n", key + ":v", key + ":m"]
        id_, pushes, vectors, metas, full = await self._read(
            keys, [seen_id, seen_pushes, self.settings.bucket_capacity]
        )
        self.stats.fetched += len(vectors)
        if full:
            return self._replicas.replace(key, id_, int(pushes), vectors, metas, dim)
        return self._replicas.advance(key, id_, int(pushes), vectors, metas)

    async def add(
        self, scope: str, model: str, rest_key: str, text: str, entry_key: str, principal: Principal | None = None
    ) -> None:
        key = bucket_key(self._prefix, scope, model, rest_key)
        last = self.settings.bucket_capacity - 1
        try:
            vector, sig = await self._embedded.of(text, principal)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key + ":id", secrets.token_bytes(8), nx=True, ex=self._ttl_s)
                pipe.lpush(key + ":v", vector.astype("<f4", copy=False).tobytes())
                pipe.lpush(key + ":m", pack_meta(entry_key, sig))
                pipe.incr(key + ":n")
                for part in (":v", ":m"):
                    pipe.ltrim(key + part, 0, last)
                for part in (":id", ":v", ":m", ":n"):
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


def _search(copy: Copy, query: Vector, sig: str, threshold: float) -> Match | None:
    similarities = copy.matrix @ query
    candidates = np.flatnonzero(similarities >= threshold)
    for i in candidates[np.argsort(-similarities[candidates], kind="stable")]:
        entry_key, signature = unpack_meta(copy.metas[i])
        if signature == sig:
            return Match(entry_key, float(similarities[i]))
    return None


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
