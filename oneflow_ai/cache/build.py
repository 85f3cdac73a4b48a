"""The response cache built from the configuration, for `gateway.compose` (None when every model's mode is off).

The store: Redis when the gateway has one (`REDIS_URL`: shared by every replica), else in process, bounded by the
top-level `max_bytes`. Semantic matching (`mode: semantic` anywhere): one index per embedding model named (a
model of the gateway, called through its own pipeline, `serve`, and billed as such; `local` or none: the local
model of the `semantic` extra), in Redis when there is one, else in process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from oneflow_ai.cache.memory_store import MemoryStore
from oneflow_ai.cache.policy import Policies
from oneflow_ai.cache.semantic_index import SemanticIndex
from oneflow_ai.cache.stage import CacheCounts, ResponseCache
from oneflow_ai.cache.store import CacheStore
from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.gateway.call import Call, JSONReply, StreamReply

if TYPE_CHECKING:
    from redis.asyncio import Redis

Serve = Callable[[Call], Awaitable[JSONReply | StreamReply]]


def response_cache(
    config: GatewayConfig, redis: Redis | None, counts: CacheCounts | None, serve: Serve
) -> ResponseCache | None:
    policies = Policies(config)
    if not policies.active:
        return None
    if redis is not None:
        from oneflow_ai.cache.redis_store import RedisStore  # redis-py, with a Redis only

        store: CacheStore = RedisStore(redis)
    else:
        store = MemoryStore(config.cache.max_bytes)
    return ResponseCache(store, policies, semantic_indexes(policies, redis, serve), counts)


def semantic_indexes(policies: Policies, redis: Redis | None, serve: Serve) -> dict[str, SemanticIndex]:
    """One index per embedding model the semantic policies name (`local` when they name none)."""
    names = {p.embedding_model or "local" for p in policies.semantic}
    if not names:
        return {}
    try:
        from oneflow_ai.cache.embedders import Embedder, PipelineEmbedder, WordLlamaEmbedder
        from oneflow_ai.cache.semantic import LocalSemanticIndex, SemanticSettings
        from oneflow_ai.cache.semantic_redis import RedisSemanticIndex
    except ImportError as e:  # numpy
        raise ValueError(
            f"cache mode semantic needs the semantic extra: pip install 'oneflow-ai[semantic]' ({e})"
        ) from e
    settings = SemanticSettings(threshold=policies.default.similarity_threshold, thresholds=policies.thresholds)
    longest = max(p.ttl_s for p in policies.semantic)
    indexes: dict[str, SemanticIndex] = {}
    for name in sorted(names):
        embedder: Embedder = (
            WordLlamaEmbedder() if name == "local" or name.startswith("local:") else PipelineEmbedder(serve, name)
        )
        indexes[name] = (
            RedisSemanticIndex(redis, embedder, settings, ttl_s=longest)
            if redis is not None
            else LocalSemanticIndex(embedder, settings)
        )
    return indexes
