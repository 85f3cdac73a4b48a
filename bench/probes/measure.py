"""Measure the server/client selection probes: `python -m bench.probes.measure [--seconds 10] [--rounds 1]`.

Each relay runs pinned to core 0; nginx (the fake upstream) and wrk share core 1. Writes nothing; prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import canned
from bench.gateway import oneflow_binary, oneflow_config
from bench.modes import MASTER_KEY, modes
from bench.procs import start_server
from bench.upstream import Upstream, start_upstream
from bench.wrk import WrkResult, run_wrk, write_script

UPSTREAM_PORT = 18001
PROBE_PORT = 18010
BIN = Path(sys.executable).parent
UVICORN = [str(BIN / "uvicorn"), "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
GRANIAN = [str(BIN / "granian"), "--interface", "asgi", "--loop", "uvloop", "--workers", "1", "--no-access-log"]


@dataclass(frozen=True)
class Probe:
    name: str
    command: list[str]


def probes(port: int, work: Path, upstream: Upstream | None) -> list[Probe]:
    """The five relays, plus the real gateway when `upstream` is given (bench-model routed to it)."""
    uvicorn = [*UVICORN, "--port", str(port)]
    extra = []
    if upstream is not None:
        config = work / "oneflow.yaml"
        config.write_text(yaml.safe_dump(oneflow_config(upstream, modes()["bare"])))
        os.environ.update(ONEFLOW_MASTER_KEY=MASTER_KEY, ONEFLOW_DATA_DIR=str(work / "data"), BENCH_UPSTREAM_KEY="k")
        extra = [
            Probe(
                "oneflow serve (bare)", [str(oneflow_binary()), "serve", "--config", str(config), "--port", str(port)]
            )
        ]
    every = [
        Probe("raw ASGI + uvicorn, canned answer (no upstream)", [*uvicorn, "bench.probes.asgi_canned:app"]),
        Probe("raw ASGI + uvicorn + OneFlow's HTTP client", [*uvicorn, "bench.probes.asgi_oneflow_client:app"]),
        Probe("raw ASGI + uvicorn + aiohttp", [*uvicorn, "bench.probes.asgi_aiohttp:app"]),
        Probe("raw ASGI + uvicorn + httpx", [*uvicorn, "bench.probes.asgi_httpx:app"]),
        Probe("raw ASGI + granian + aiohttp", [*GRANIAN, "--port", str(port), "bench.probes.asgi_aiohttp:app"]),
        Probe("FastAPI + uvicorn + aiohttp", [*uvicorn, "bench.probes.fastapi_aiohttp:app"]),
        Probe("Starlette + uvicorn + aiohttp", [*uvicorn, "bench.probes.starlette_aiohttp:app"]),
        *extra,
    ]
    return [p for p in every if Path(p.command[0]).exists()]  # granian is not installed by default


def row(name: str, runs: list[WrkResult]) -> str:
    """The median run by req/s (its own p50/p99), every run's req/s, and all errors."""
    median = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
    each = ", ".join(f"{r.rps:,.0f}" for r in runs)
    errors = sum(r.errors for r in runs)
    return (
        f"| {name} | {median.rps:,.0f} | {median.p50_us / 1000:.2f} | {median.p99_us / 1000:.2f} | {errors} | {each} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="repeat each probe; the table shows the median")
    parser.add_argument("--oneflow", action="store_true", help="also measure `oneflow serve` (bare mode)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oneflow-probes-") as tmp:
        work = Path(tmp)
        upstream = start_upstream(work / "nginx", UPSTREAM_PORT)
        script = write_script(work / "chat.lua", canned.chat_request("bench-model"), "sk-bench")
        results: dict[str, list[WrkResult]] = {}
        try:
            for _ in range(args.rounds):
                url = f"{upstream.base_url}/chat/completions"
                run_wrk(url, script, connections=args.connections, duration_s=2)
                results.setdefault("direct to nginx (baseline)", []).append(
                    run_wrk(url, script, connections=args.connections, duration_s=args.seconds)
                )
                for probe in probes(PROBE_PORT, work, upstream if args.oneflow else None):
                    server = start_server(
                        probe.name, ["taskset", "-c", "0", *probe.command], PROBE_PORT, log=work / "probe.log"
                    )
                    try:
                        url = f"http://127.0.0.1:{PROBE_PORT}/v1/chat/completions"
                        run_wrk(url, script, connections=args.connections, duration_s=2)  # warm-up
                        result = run_wrk(url, script, connections=args.connections, duration_s=args.seconds)
                        results.setdefault(probe.name, []).append(result)
                    finally:
                        server.stop()
                        time.sleep(0.5)
        finally:
            upstream.server.stop()
    print(f"\n{args.connections} connections, {args.seconds:.0f} s, median of {args.rounds} round(s)\n")
    print("| setup | req/s | p50 ms | p99 ms | errors | req/s of each round |")
    print("|---|---:|---:|---:|---:|---|")
    for name, runs in results.items():
        print(row(name, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
