"""The semantic indexes, in process and in Redis, with vectors the test chooses (`Chosen`): thresholds per model,
the guard, buckets, scope isolation, bounds, clearing, and failures as misses."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from redis.asyncio import Redis

from oneflow_ai.auth.principal import Principal
from oneflow_ai.cache.embedders import EmbeddingUnavailable
from oneflow_ai.cache.semantic import LocalSemanticIndex, SemanticSettings, embedding_text
from oneflow_ai.cache.semantic_redis import RedisSemanticIndex
from oneflow_ai.cache.semantic_vectors import Vector
from tests.conftest import SHARED_REDIS_URL


def at(cosine: float) -> list[float]:
    """A unit vector at `cosine` from (1, 0, 0)."""
    return [cosine, math.sqrt(1 - cosine**2), 0.0]


class Chosen:
    """An embedder whose vector for each text the test names (by its `embedding_text`); counts its calls."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.dim = len(next(iter(vectors.values())))
        self.vectors = {embedding_text(k): v for k, v in vectors.items()}
        self.calls: list[tuple[list[str], Principal | None]] = []
        self.broken = False

    async def embed(self, texts: list[str], principal: Principal | None = None) -> Vector:
        self.calls.append((texts, principal))
        if self.broken:
            raise EmbeddingUnavailable("refused")
        rows = np.asarray([self.vectors[t] for t in texts], dtype=np.float32)
        normalized: Vector = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
        return normalized


TEXTS = {
    "What is the capital of France?": at(1.0),
    "whats the capital of France": at(0.95),
    "capital city of France?": at(0.90),
    "What is the capital of Germany?": at(0.99),  # close, but another name: the guard refuses it
    "Something else": [0.0, 0.0, 1.0],
}

Factory = Callable[..., Any]


@pytest.fixture(params=["memory", "redis"])
async def make_index(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    clients: list[Redis] = []

    def make(embedder: Chosen, **settings: Any) -> LocalSemanticIndex | RedisSemanticIndex:
        if request.param == "memory":
            return LocalSemanticIndex(embedder, SemanticSettings(**settings))
        client = Redis.from_url(SHARED_REDIS_URL)
        clients.append(client)
        prefix = request.getfixturevalue("redis_prefix")
        return RedisSemanticIndex(client, embedder, SemanticSettings(**settings), prefix=prefix, ttl_s=60)

    yield make
    for client in clients:
        await client.aclose()


async def test_hit_at_or_above_the_threshold_and_the_closest_wins(make_index: Factory) -> None:
    index = make_index(Chosen(TEXTS))
    await index.add("t1", "m", "rest", "capital city of France?", "e-0.90")
    await index.add("t1", "m", "rest", "whats the capital of France", "e-0.95")
    found = await index.lookup("t1", "m", "rest", "What is the capital of France?")
    assert found is not None and found[0] == "e-0.95" and found[1] == pytest.approx(0.95, abs=1e-5)
    strict = make_index(Chosen(TEXTS), threshold=0.96)  # same store (Redis) or a fresh one: a miss either way
    await strict.add("t1", "m", "rest", "whats the capital of France", "e-0.95")
    assert await strict.lookup("t1", "m", "rest", "What is the capital of France?") is None


async def test_threshold_per_model(make_index: Factory) -> None:
    index = make_index(Chosen(TEXTS), thresholds={"strict": 0.99})
    for model in ("strict", "loose"):
        await index.add("t1", model, "rest", "whats the capital of France", f"e-{model}")
    assert await index.lookup("t1", "strict", "rest", "What is the capital of France?") is None
    assert await index.lookup("t1", "loose", "rest", "What is the capital of France?") == (
        "e-loose",
        pytest.approx(0.95),
    )


async def test_the_guard_refuses_a_close_vector_with_another_name(make_index: Factory) -> None:
    guarded = make_index(Chosen(TEXTS))
    await guarded.add("t1", "m", "rest", "What is the capital of Germany?", "germany")
    assert await guarded.lookup("t1", "m", "rest", "What is the capital of France?") is None
    unguarded = make_index(Chosen(TEXTS), guard=False)
    await unguarded.add("t2", "m", "rest", "What is the capital of Germany?", "germany")
    assert (await unguarded.lookup("t2", "m", "rest", "What is the capital of France?") or ("",))[0] == "germany"


async def test_scopes_models_and_rest_keys_never_mix(make_index: Factory) -> None:
    index = make_index(Chosen(TEXTS))
    await index.add("tenant-a", "m", "rest", "What is the capital of France?", "a-entry")
    same = "What is the capital of France?"
    assert await index.lookup("tenant-b", "m", "rest", same) is None  # another tenant: never
    assert await index.lookup("tenant-a", "other-model", "rest", same) is None
    assert await index.lookup("tenant-a", "m", "other-rest", same) is None
    assert await index.lookup("tenant-a", "m", "rest", same) == ("a-entry", pytest.approx(1.0))


async def test_clear_by_scope_and_model(make_index: Factory) -> None:
    index = make_index(Chosen(TEXTS))
    q = "What is the capital of France?"
    for scope in ("a:x*", "b"):  # a scope with pattern characters clears only itself
        for model in ("m1", "m2"):
            await index.add(scope, model, "rest", q, f"{scope}-{model}")
    await index.clear("a:x*", "m1")
    assert await index.lookup("a:x*", "m1", "rest", q) is None
    assert await index.lookup("a:x*", "m2", "rest", q) is not None
    await index.clear("b", None)
    assert await index.lookup("b", "m1", "rest", q) is None and await index.lookup("b", "m2", "rest", q) is None
    assert await index.lookup("a:x*", "m2", "rest", q) is not None
    await index.clear(None, None)
    assert await index.lookup("a:x*", "m2", "rest", q) is None


async def test_a_bucket_keeps_at_most_its_capacity(make_index: Factory) -> None:
    texts = {f"question {i}": [float(i == j) for j in range(5)] for i in range(5)}  # orthogonal to each other
    index = make_index(Chosen(texts), bucket_capacity=3)
    for i in range(5):
        await index.add("t", "m", "r", f"question {i}", f"e{i}")
    found = [await index.lookup("t", "m", "r", f"question {i}") for i in range(5)]
    assert [f is not None for f in found] == [False, False, True, True, True]  # the two oldest were evicted
    if isinstance(index, RedisSemanticIndex):
        assert index.stats.scanned == 5 * 3  # each lookup read the whole bucket, and no more


async def test_embedded_once_per_text_and_billed_to_the_caller(make_index: Factory) -> None:
    embedder = Chosen(TEXTS)
    index = make_index(embedder)
    caller = Principal(key_id="k1", tenant_id="t1")
    q = "What is the capital of France?"
    assert await index.lookup("t1", "m", "rest", q, caller) is None
    await index.add("t1", "m", "rest", q, "e1", caller)  # the miss's own text: not embedded again
    assert embedder.calls == [([embedding_text(q)], caller)]


async def test_an_embedding_that_fails_is_a_miss(make_index: Factory) -> None:
    embedder = Chosen(TEXTS)
    index = make_index(embedder)
    embedder.broken = True
    await index.add("t1", "m", "rest", "What is the capital of France?", "e1")
    assert await index.lookup("t1", "m", "rest", "What is the capital of France?") is None
    assert index.stats.failures == 2


async def test_redis_down_is_a_miss() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    index = RedisSemanticIndex(client, Chosen(TEXTS), prefix="never:")
    await index.add("t1", "m", "rest", "What is the capital of France?", "e1")
    assert await index.lookup("t1", "m", "rest", "What is the capital of France?") is None
    assert index.stats.failures == 2
    await client.aclose()


def test_in_process_bound_over_all_buckets() -> None:
    from oneflow_ai.cache.semantic_vectors import LocalVectors

    vectors = LocalVectors(dim=2, bucket_capacity=10, max_entries=3)
    v = np.asarray([1.0, 0.0], dtype=np.float32)
    for i, bucket in enumerate(["a", "b", "a", "c"]):
        vectors.add((bucket, "m", "r"), v, "", f"{bucket}{i}", tick=i)
    assert len(vectors) == 3
    assert vectors.best(("b", "m", "r"), v, "", 0.9, tick=9) is None  # the least recently used bucket lost its entry
    assert vectors.best(("a", "m", "r"), v, "", 0.9, tick=9) is not None
    vectors.add(("a", "m", "r"), v, "", "a2", tick=10)  # the same entry again: refreshed, not counted twice
    assert len(vectors) == 3


async def test_two_redis_indexes_share_a_bucket_and_read_only_what_is_new(redis_prefix: str) -> None:
    """Two gateways: each keeps a copy of the bucket and reads only the pushes since it last looked; a bucket
    cleared (or expired) and filled again is read whole (another id), never mixed with the old copy."""
    texts = {f"question {i}": [float(i == j) for j in range(12)] for i in range(12)}
    client = Redis.from_url(SHARED_REDIS_URL)
    one, two = (RedisSemanticIndex(client, Chosen(texts), prefix=redis_prefix, ttl_s=60) for _ in range(2))
    try:
        await one.add("t", "m", "r", "question 0", "e0")
        assert await two.lookup("t", "m", "r", "question 0") == ("e0", pytest.approx(1.0))
        assert two.stats.fetched == 1  # its first look: the whole bucket (one vector)
        assert await two.lookup("t", "m", "r", "question 0") is not None
        assert two.stats.fetched == 1  # nothing new: nothing read
        for i in (1, 2):
            await one.add("t", "m", "r", f"question {i}", f"e{i}")
        assert await two.lookup("t", "m", "r", "question 2") == ("e2", pytest.approx(1.0))
        assert await two.lookup("t", "m", "r", "question 0") == ("e0", pytest.approx(1.0))  # still in the copy
        assert two.stats.fetched == 3  # the two new ones only
        assert two.stats.scanned == 3 + 3 + 1 + 1

        await one.clear("t", None)
        assert await two.lookup("t", "m", "r", "question 0") is None  # the bucket is gone: so is the copy
        await one.add("t", "m", "r", "question 5", "e5")
        assert await two.lookup("t", "m", "r", "question 0") is None
        assert await two.lookup("t", "m", "r", "question 5") == ("e5", pytest.approx(1.0))
    finally:
        await client.aclose()


async def test_a_copy_too_far_behind_is_read_again_within_the_capacity(redis_prefix: str) -> None:
    texts = {f"question {i}": [float(i == j) for j in range(12)] for i in range(12)}
    client = Redis.from_url(SHARED_REDIS_URL)
    settings = SemanticSettings(bucket_capacity=4)
    one, two = (RedisSemanticIndex(client, Chosen(texts), settings, prefix=redis_prefix, ttl_s=60) for _ in range(2))
    try:
        await one.add("t", "m", "r", "question 0", "e0")
        assert await two.lookup("t", "m", "r", "question 0") is not None
        for i in range(1, 10):  # nine more: more than the bucket holds
            await one.add("t", "m", "r", f"question {i}", f"e{i}")
        found = [await two.lookup("t", "m", "r", f"question {i}") is not None for i in range(10)]
        assert found == [False] * 6 + [True] * 4  # the newest four, as in Redis
        assert two.stats.fetched == 1 + 4
    finally:
        await client.aclose()


async def test_a_vector_of_another_length_is_a_miss_not_an_error(make_index: Factory) -> None:
    """A model group whose fallback deployment embeds with another model (another length)."""
    index = make_index(Chosen({"What is the capital of France?": at(1.0), "whats the capital of France": [1.0] * 5}))
    await index.add("t1", "m", "rest", "What is the capital of France?", "e1")
    assert await index.lookup("t1", "m", "rest", "whats the capital of France") is None
    await index.add("t1", "m", "rest", "whats the capital of France", "e2")  # not kept beside the others
    assert await index.lookup("t1", "m", "rest", "What is the capital of France?") == ("e1", pytest.approx(1.0))
