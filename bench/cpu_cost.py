"""CPU time per request: `.venv/bin/python -m bench.cpu_cost [--mode bare,full-sqlite] [--seconds 10] [--rounds 3]`.

Throughput on a shared machine moves by +-20 % from one run to the next (other processes take the gateway's
core); the CPU time the gateway's process spends per request moves far less, because time it waits for the core
is not counted. Comparing two versions of the code: run this once from each checkout (each with its own
environment, `oneflow` resolved beside the interpreter), alternating, and compare microseconds per request.

For each mode: nginx as the upstream (core 1), the gateway (core 0), a warm-up, then `--rounds` measurements of
`--seconds` each with wrk (64 connections, core 1) on non-streamed chat; per round the gateway's user + system CPU
time (all its processes, from /proc) divided by the requests wrk completed. Prints one JSON line per mode.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import orjson

from bench import canned
from bench.gateway import CHAT_MODEL, start_oneflow
from bench.modes import MASTER_KEY, modes, variants
from bench.procs import worker_pids
from bench.upstream import start_upstream
from bench.wrk import run_wrk, write_script

UPSTREAM_PORT, GATEWAY_PORT = 18011, 18010
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its workers, in seconds."""
    total = 0
    for p in {pid, *worker_pids(pid)}:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICKS


def measure(mode_name: str, seconds: float, rounds: int) -> dict[str, object]:
    mode = {**modes(), **variants()}[mode_name]
    with tempfile.TemporaryDirectory(prefix="oneflow-cpu-") as tmp, mode.resources() as extra:
        work = Path(tmp)
        mode = replace(mode, env={**mode.env, **extra})
        upstream = start_upstream(work / "nginx", UPSTREAM_PORT, cpu="1")
        try:
            gateway = start_oneflow(work, upstream, mode, port=GATEWAY_PORT, cpu="0")
            try:
                key = asyncio.run(mode.client_key(gateway.base_url, MASTER_KEY))
                script = write_script(work / "chat.lua", canned.chat_request(CHAT_MODEL), key)
                url = f"{gateway.base_url}/chat/completions"
                run_wrk(url, script, connections=64, duration_s=3)  # warm-up
                per_request: list[float] = []
                rates: list[float] = []
                for _ in range(rounds):
                    before = cpu_seconds(gateway.server.pid)
                    result = run_wrk(url, script, connections=64, duration_s=seconds)
                    spent = cpu_seconds(gateway.server.pid) - before
                    if result.errors:
                        raise RuntimeError(f"{result.errors} errors in {mode_name}")
                    per_request.append(spent / result.requests * 1e6)
                    rates.append(result.requests / (result.duration_us / 1e6))
            finally:
                gateway.server.stop()
        finally:
            upstream.server.stop()
    return {
        "mode": mode_name,
        "cpu_us_per_request": round(statistics.median(per_request), 1),
        "rounds_us": [round(x, 1) for x in per_request],
        "req_per_s": [round(x) for x in rates],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="bare,full-sqlite,full-postgres")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    for name in args.mode.split(","):
        print(orjson.dumps(measure(name, args.seconds, args.rounds)).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
