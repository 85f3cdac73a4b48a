"""The response cache's cost and gain, in process, in one run: `.venv/bin/python -m bench.cache`.

Two gateways are built in this process (no sockets: ASGI calls, as `bench.hot_path`, whose upstream is a
transport answering the benchmark's canned chat completion after one turn of the event loop): one with
`cache: {mode: exact}` (the in-process store), one without. It measures:

1. **what a miss adds**: one request at a time, each with a prompt never seen before (so every lookup misses and
   every answer is kept), sent alternately to both gateways; the p50 latency with the cache minus the p50
   without it (issue 18's target: <= 0.2 ms);
2. **hits against misses**: at `--concurrency` (64), requests/s of the cached gateway when every request is the
   same (all hits after the first) against every request new (all misses); issue 18's target: >= 2x.

The canned upstream answers at once, so a miss here costs only the gateway's own work: against a real upstream
a miss costs its network round trip and generation on top, and the ratio only grows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.gateway import CHAT_MODEL, UPSTREAM_KEY, oneflow_config
from bench.hot_path import CannedTransport, Lifespan, call
from bench.modes import MASTER_KEY, modes
from bench.upstream import Upstream

P50_TARGET_MS = 0.2
RATIO_TARGET = 2.0


def request(text: str) -> bytes:
    messages = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": text}]
    return orjson.dumps({"model": CHAT_MODEL, "messages": messages, "max_tokens": 64, "temperature": 0})


def build(work: Path, name: str, cache: dict[str, Any] | None) -> Any:
    from oneflow_ai.app import create_app

    mode = modes()["bare"]
    config: dict[str, Any] = oneflow_config(Upstream(server=None, port=18001), mode)  # type: ignore[arg-type]
    if cache is not None:
        config["cache"] = cache
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    environ = {
        **os.environ,
        "ONEFLOW_MASTER_KEY": MASTER_KEY,
        "ONEFLOW_DATA_DIR": str(work / f"data-{name}"),
        "ONEFLOW_CONFIG": str(path),
        "BENCH_UPSTREAM_KEY": UPSTREAM_KEY,
        "ONEFLOW_LOG_LEVEL": "WARNING",
    }
    environ.pop("REDIS_URL", None)
    return create_app(environ=environ)


async def served(app: Any, state: dict[str, Any], body: bytes) -> list[tuple[bytes, bytes]]:
    status, out, headers = await call(app, state, "POST", "/v1/chat/completions", body, MASTER_KEY)
    if status != 200:
        raise RuntimeError(f"{status}: {out[:300]!r}")
    return headers


async def run(sequential: int, requests: int, concurrency: int) -> bool:
    work = Path(tempfile.mkdtemp(prefix="oneflow-cache-bench-"))
    cached_app, plain_app = build(work, "cached", {"mode": "exact"}), build(work, "plain", None)
    async with Lifespan(cached_app) as cached, Lifespan(plain_app) as plain:
        for lifespan in (cached, plain):
            gateway = lifespan.state["gateway"]
            transport = CannedTransport()
            gateway.transports = {dep: transport for dep in gateway.transports}
        headers = dict(await served(cached_app, cached.state, request("warm-up")))
        assert headers.get(b"x-oneflow-cache") == b"miss", headers
        for i in range(200):  # warm both
            await served(cached_app, cached.state, request(f"warm {i}"))
            await served(plain_app, plain.state, request(f"warm {i}"))

        with_cache: list[float] = []
        without: list[float] = []
        for i in range(sequential):
            body = request(f"sequential {i}")
            for app, state, times in ((cached_app, cached.state, with_cache), (plain_app, plain.state, without)):
                started = time.perf_counter()
                await served(app, state, body)
                times.append(time.perf_counter() - started)
        added_ms = (statistics.median(with_cache) - statistics.median(without)) * 1000

        async def rate(bodies: list[bytes]) -> float:
            per = len(bodies) // concurrency

            async def worker(k: int) -> None:
                for body in bodies[k * per : (k + 1) * per]:
                    await served(cached_app, cached.state, body)

            started = time.perf_counter()
            await asyncio.gather(*(worker(k) for k in range(concurrency)))
            return per * concurrency / (time.perf_counter() - started)

        same = request("the same question")
        await served(cached_app, cached.state, same)  # kept: every request below is a hit
        await asyncio.sleep(0.05)
        hits = await rate([same] * requests)
        misses = await rate([request(f"new {i}") for i in range(requests)])
        await asyncio.sleep(0.5)  # the ledger's writer drains what the run left
    ratio = hits / misses
    print(
        f"miss, one at a time: p50 {statistics.median(with_cache) * 1000:.3f} ms with the cache, "
        f"{statistics.median(without) * 1000:.3f} ms without: adds {added_ms:.3f} ms (target <= {P50_TARGET_MS})"
    )
    print(
        f"concurrency {concurrency}: hits {hits:,.0f} req/s, misses {misses:,.0f} req/s: {ratio:.2f}x "
        f"(target >= {RATIO_TARGET}x)"
    )
    ok = added_ms <= P50_TARGET_MS and ratio >= RATIO_TARGET
    print("cache targets:", "hold" if ok else "do not hold")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cache", description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=2000, help="requests one at a time, to each gateway")
    parser.add_argument("--requests", type=int, default=20000, help="requests for each throughput")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    import uvloop

    return 0 if uvloop.run(run(args.sequential, args.requests, args.concurrency)) else 1


if __name__ == "__main__":
    sys.exit(main())
