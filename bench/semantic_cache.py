"""Semantic cache quality and cost on the paraphrase corpus (`tests/cache/data/paraphrases.jsonl`).

    .venv/bin/python -m bench.semantic_cache [--redis redis://127.0.0.1:6379/0]

For each pair, the first text is added to a fresh bucket of a `LocalSemanticIndex` (the local WordLlama model,
offline) and the second is looked up: a pair marked `hit` should be found (hit rate), a pair marked `miss` (other
numbers, names, negations, other words) must not (false-hit rate). Printed at the default threshold, with and
without the near-miss guard, per kind of near miss, then over a small threshold sweep; then the cost of a lookup
(embedding included) in process and, with `--redis`, in Redis (a gateway whose copy of the bucket is current, and
one reading the whole bucket).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from oneflow_ai.cache.embedders import Embedder, WordLlamaEmbedder
from oneflow_ai.cache.semantic import DEFAULT_THRESHOLD, LocalSemanticIndex, SemanticSettings
from oneflow_ai.cache.semantic_index import SemanticIndex
from oneflow_ai.cache.semantic_redis import RedisSemanticIndex

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "cache" / "data" / "paraphrases.jsonl"
SWEEP = (0.85, 0.88, 0.90, 0.92, 0.94, 0.96)


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    expect: str
    kind: str


@dataclass(frozen=True, slots=True)
class Rates:
    threshold: float
    guard: bool
    hit_rate: float
    false_hit_rate: float
    false_hits: tuple[Pair, ...]
    false_by_kind: dict[str, int]


def load_corpus(path: Path = CORPUS) -> list[Pair]:
    with path.open(encoding="utf-8") as f:
        return [Pair(**json.loads(line)) for line in f if line.strip()]


async def evaluate(pairs: list[Pair], embedder: Embedder, threshold: float, guard: bool = True) -> Rates:
    index = LocalSemanticIndex(embedder, SemanticSettings(threshold=threshold, guard=guard))
    found: list[bool] = []
    for i, p in enumerate(pairs):
        await index.add(f"pair{i}", "m", "rest", p.a, f"entry{i}")
        found.append(await index.lookup(f"pair{i}", "m", "rest", p.b) is not None)
    hits = [f for f, p in zip(found, pairs, strict=True) if p.expect == "hit"]
    false = [p for f, p in zip(found, pairs, strict=True) if p.expect == "miss" and f]
    misses = sum(p.expect == "miss" for p in pairs)
    return Rates(
        threshold, guard, sum(hits) / len(hits), len(false) / misses, tuple(false), dict(Counter(p.kind for p in false))
    )


async def lookup_cost_us(embedder: Embedder, entries: int, redis_url: str | None) -> dict[str, float]:
    """p50 microseconds of one lookup (embedding included) against a bucket of `entries` vectors."""
    texts = [f"question number {i} about topic {i % 97}" for i in range(entries)]
    costs: dict[str, float] = {}
    local = LocalSemanticIndex(embedder, SemanticSettings(bucket_capacity=entries))
    for i, t in enumerate(texts):
        await local.add("s", "m", "r", t, f"e{i}")
    costs["in process"] = await _p50(local, texts)
    if redis_url:
        redis = Redis.from_url(redis_url)
        prefix = f"bench:semantic:{os.getpid()}:"
        shared = RedisSemanticIndex(redis, embedder, SemanticSettings(bucket_capacity=entries), prefix=prefix)
        try:
            for i, t in enumerate(texts):
                await shared.add("s", "m", "r", t, f"e{i}")
            costs["redis, this gateway's copy current (nothing read but the id and count)"] = await _p50(shared, texts)
            cold = []
            for _ in range(20):  # a gateway that has no copy yet: the whole bucket is read
                fresh = RedisSemanticIndex(redis, embedder, SemanticSettings(bucket_capacity=entries), prefix=prefix)
                started = time.perf_counter()
                await fresh.lookup("s", "m", "r", "another question")
                cold.append((time.perf_counter() - started) * 1e6)
            costs[f"redis, first lookup of a gateway (all {entries} read)"] = statistics.median(cold)
        finally:
            await shared.clear(None, None)
            await redis.aclose()
    return costs


async def _p50(index: SemanticIndex, texts: list[str]) -> float:
    samples = []
    for t in [f"another question {i}" for i in range(200)]:
        started = time.perf_counter()
        await index.lookup("s", "m", "r", t)
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


async def main(redis_url: str | None) -> None:
    pairs = load_corpus()
    embedder = WordLlamaEmbedder()
    kinds = Counter((p.expect, p.kind) for p in pairs)
    print(f"corpus: {CORPUS.name}: {len(pairs)} pairs: " + ", ".join(f"{k[0]}/{k[1]} {n}" for k, n in kinds.items()))
    for guard in (True, False):
        r = await evaluate(pairs, embedder, DEFAULT_THRESHOLD, guard)
        print(
            f"threshold {r.threshold:.2f}, guard {'on ' if guard else 'off'}: hit rate {r.hit_rate:.1%}, "
            f"false-hit rate {r.false_hit_rate:.1%} {r.false_by_kind}"
        )
        if guard:
            for p in r.false_hits:
                print(f"    false hit ({p.kind}): {p.a!r} ~ {p.b!r}")
    print("sweep (guard on / off):")
    for t in SWEEP:
        on, off = await evaluate(pairs, embedder, t, True), await evaluate(pairs, embedder, t, False)
        print(
            f"  {t:.2f}: hit {on.hit_rate:6.1%} false {on.false_hit_rate:5.1%}"
            f"   |   hit {off.hit_rate:6.1%} false {off.false_hit_rate:5.1%}"
        )
    for size in (100, 500, 1000):
        for where, us in (await lookup_cost_us(embedder, size, redis_url)).items():
            print(f"lookup p50 (embedding included), bucket of {size} vectors, {where}: {us:.0f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default=None, help="also measure the Redis index (e.g. redis://127.0.0.1:6379/0)")
    asyncio.run(main(parser.parse_args().redis))
