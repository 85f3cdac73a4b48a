"""`oneflow serve --workers 2` with Redis is one gateway: a cached answer one worker kept is served by the other, a
rate limit holds across both, and any worker's `/metrics` counts both workers' calls.

Which worker accepts a connection is the kernel's choice: the calls go in bursts, each on a connection of its
own, until both workers have served. Which worker served what is read from each worker's own metrics snapshot
(`worker_metrics`: one file per worker, written every second), so each check waits until the snapshots show it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from oneflow_ai.observability.worker_metrics import SNAPSHOT_INTERVAL_S, decode
from tests.cache.conftest import admin, cache_config, prompt, tenant_key, upstream_calls
from tests.conftest import MASTER_KEY, SHARED_REDIS_URL, UPSTREAM_KEY
from tests.fakes.openai_upstream import OpenAIUpstream
from tests.fakes.runner import START_LIMIT_S, AiohttpServer
from tests.fakes.subprocess_gateway import Served, SubprocessGateways

BURST = 8
LIMIT = 10  # requests per minute on the rate-limited key


@pytest.fixture(scope="module")
def upstream() -> Iterator[AiohttpServer]:
    fake = OpenAIUpstream(require_key=UPSTREAM_KEY)
    server = AiohttpServer(fake.app)
    server.fake = fake  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workers")


@pytest.fixture(scope="module")
def served(root: Path, upstream: AiohttpServer) -> Iterator[Served]:
    """One `oneflow serve --workers 2` for the module's tests (each uses keys and prompts of its own)."""
    gateways = SubprocessGateways(root)
    try:
        yield gateways.start(workers=2, env={"REDIS_URL": SHARED_REDIS_URL}, config_yaml=cache_config(upstream.url))
    finally:
        gateways.stop_all()


def per_worker(root: Path, name: str, **labels: str) -> dict[str, float]:
    """Each worker's total of counter `name` (samples whose labels include `labels`) in its latest snapshot, by
    its file's pid."""
    out: dict[str, float] = {}
    for path in (root / "data-0").glob("metrics-*/*.json"):
        out[path.stem] = sum(
            s.value
            for family in decode(path.read_bytes()).families
            for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )
    return out


def fresh(root: Path) -> None:
    """Until every worker's snapshot holds what it counted before now: each file is replaced twice after now (the
    second write collected its registry after the first ended)."""
    for _ in range(2):
        eventually(partial(written_since, root, time.time_ns()), "the workers' snapshots were never written again")


def written_since(root: Path, since_ns: int) -> bool:
    return all(p.stat().st_mtime_ns > since_ns for p in (root / "data-0").glob("metrics-*/*.json"))


def eventually(done: Callable[[], bool], failure: str) -> None:
    """Until `done()` holds; the workers write their snapshots every SNAPSHOT_INTERVAL_S."""
    deadline = time.monotonic() + 30 * SNAPSHOT_INTERVAL_S
    while not done():
        assert time.monotonic() < deadline, failure
        time.sleep(SNAPSHOT_INTERVAL_S / 20)


async def burst(url: str, key: str, body: dict[str, Any]) -> list[int]:
    """`BURST` calls at once, each on a connection of its own; their statuses."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one() -> int:
            headers = {"authorization": f"Bearer {key}", "connection": "close"}
            return (await client.post("/v1/chat/completions", headers=headers, json=body)).status_code

        return list(await asyncio.gather(*(one() for _ in range(BURST))))


def until(done: Callable[[], bool], send: Callable[[], object]) -> None:
    """`send()` again until `done()` holds (the kernel has handed calls to both workers), within the start limit."""
    deadline = time.monotonic() + START_LIMIT_S
    while not done():
        assert time.monotonic() < deadline, "the calls never reached both workers"
        send()


def kept(url: str, key: str) -> None:
    """Until the tenant's cache holds one entry."""
    deadline = time.monotonic() + 30
    while admin(url, "GET", "/cache/stats", key).json()["entries"] != 1:
        assert time.monotonic() < deadline, "the answer was never kept"
        time.sleep(0.02)


def grown(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Each worker's counter since `before`."""
    return {pid: n - before.get(pid, 0.0) for pid, n in after.items()}


def both(counts: dict[str, float]) -> bool:
    return len(counts) == 2 and all(v > 0 for v in counts.values())


def test_an_answer_one_worker_kept_is_served_by_the_other(
    served: Served, upstream: AiohttpServer, root: Path, redis_leftovers: Callable[[str], None]
) -> None:
    tenant, key = tenant_key(served.url)
    redis_leftovers(f"oneflow:cache:exact:{tenant}:*")
    text = prompt("workers")
    body = {"model": "mini", "messages": [{"role": "user", "content": text}], "temperature": 0}
    fresh(root)
    misses, hits = (per_worker(root, f"cache_{n}_total", kind="exact") for n in ("misses", "hits"))
    first = httpx.post(
        served.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body, timeout=30
    )
    assert first.status_code == 200 and first.headers["x-oneflow-cache"] == "miss"
    kept(served.url, key)  # the answer is kept just after it is sent, in Redis a round trip later
    eventually(
        lambda: sum(grown(misses, per_worker(root, "cache_misses_total", kind="exact")).values()) == 1,
        "the miss never showed in a snapshot",
    )
    missed = {pid for pid, n in grown(misses, per_worker(root, "cache_misses_total", kind="exact")).items() if n}
    assert len(missed) == 1  # one worker asked the upstream

    def other_hit() -> bool:  # a hit on the worker that never missed: the other's entry, found in Redis
        return any(
            n for pid, n in grown(hits, per_worker(root, "cache_hits_total", kind="exact")).items() if pid not in missed
        )

    until(other_hit, lambda: asyncio.run(burst(served.url, key, body)))
    assert upstream_calls(upstream, text) == 1
    fresh(root)
    assert sum(grown(misses, per_worker(root, "cache_misses_total", kind="exact")).values()) == 1


def test_a_rate_limit_holds_across_both_workers(
    served: Served, root: Path, redis_leftovers: Callable[[str], None]
) -> None:
    r = admin(served.url, "POST", "/api-keys", json={"name": "limited-" + uuid.uuid4().hex[:6], "rpm_limit": LIMIT})
    assert r.status_code == 201, r.text
    created = r.json()
    redis_leftovers(f"oneflow:rl:*{created['id']}*")
    body = {"model": "mini", "messages": [{"role": "user", "content": "hi"}]}
    fresh(root)
    refused = per_worker(root, "rate_limit_exceeded_total")
    statuses: list[int] = []
    started = time.monotonic()
    until(
        lambda: both(grown(refused, per_worker(root, "rate_limit_exceeded_total"))) and len(statuses) >= 3 * LIMIT,
        lambda: statuses.extend(asyncio.run(burst(served.url, created["key"], body))),
    )
    refill = LIMIT * (time.monotonic() - started) / 60  # the bucket refills LIMIT per minute
    assert set(statuses) <= {200, 429}
    # Both workers refused calls, and together they admitted the limit (plus what refilled), not a limit each.
    assert LIMIT <= statuses.count(200) <= LIMIT + int(refill) + 1, (statuses.count(200), refill)


def test_any_worker_s_metrics_count_both_workers_calls(served: Served, root: Path) -> None:
    body = {"model": "mini", "messages": [{"role": "user", "content": "hi"}]}
    route = {"route": "/v1/chat/completions"}
    fresh(root)  # the earlier tests' calls are in the snapshots
    before = per_worker(root, "http_requests_total", **route)
    sent: list[int] = []
    until(
        lambda: both(grown(before, per_worker(root, "http_requests_total", **route))),
        lambda: sent.extend(asyncio.run(burst(served.url, MASTER_KEY, body))),
    )
    assert set(sent) == {200}
    counted = sum(before.values()) + len(sent)
    eventually(  # nothing is in flight now: once the snapshots count every call, no worker counts more
        lambda: sum(per_worker(root, "http_requests_total", **route).values()) == counted,
        "the snapshots never counted every call once",
    )
    for _ in range(4):  # scrapes on fresh connections: whichever worker answers counts every worker's calls
        text = httpx.get(served.url + "/metrics", headers={"connection": "close"}, timeout=30).text
        chat = [
            line
            for line in text.splitlines()
            if line.startswith("http_requests_total{") and 'route="/v1/chat/completions"' in line
        ]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in chat) == counted


def test_without_redis_serve_warns_that_each_worker_counts_alone(served: Served, tmp_path: Path) -> None:
    gateways = SubprocessGateways(tmp_path)
    try:
        alone = gateways.start(workers=2)
    finally:
        gateways.stop_all()
    assert "--workers 2 without REDIS_URL: each worker keeps its own rate limits" in alone.output()
    assert "without REDIS_URL" not in served.output()
