"""Two versions (or two modes) side by side: `.venv/bin/python -m bench.ab --baseline /other/venv/bin/oneflow
[--mode full-sqlite]`, or `--mode full-sqlite --versus full-sqlite-guardrails` (this version, the second mode against
the first: what a feature costs).

On a shared VM the same gateway's throughput drifts by 20 % from one minute to the next, so two versions measured
one after the other (as `bench.run --baseline` does) differ by as much even when their code costs the same. Here
both gateways run at once, on the same core (0), each on its own fresh database, and the load (wrk, 64
connections, core 1) alternates between them in short slices: A, B, B, A, A, B... (each pair in both orders), so
both see the same drift. Prints the req/s of every slice, each version's median, and the change of this version
against the baseline.

The baseline's command runs outside this checkout (a `python -m oneflow_ai` it starts must import its own package).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import orjson

from bench import canned
from bench.gateway import CHAT_MODEL, Gateway, start_oneflow
from bench.modes import MASTER_KEY, modes, variants
from bench.upstream import start_upstream
from bench.wrk import run_wrk, write_script

UPSTREAM_PORT, PORTS = 18041, (18042, 18043)


def order(pairs: int) -> list[int]:
    """Which gateway each slice loads: 0 1 1 0 0 1 1 0 ... (every pair in both orders)."""
    return [i for k in range(pairs) for i in ((0, 1) if k % 2 == 0 else (1, 0))]


def change(head: list[float], base: list[float]) -> float:
    """This version's median req/s against the baseline's, in percent."""
    return (statistics.median(head) / statistics.median(base) - 1) * 100


def compare(
    mode_name: str, baseline: Path | None, pairs: int, seconds: float, versus: str | None = None
) -> dict[str, object]:
    """`baseline`: the other version's command, both in `mode_name`; or, with `versus`, this version in `mode_name`
    (the baseline side) against `versus`."""
    table = {**modes(), **variants()}
    mode = table[mode_name]
    sides = [(mode, baseline), (table[versus] if versus else mode, None)]
    with tempfile.TemporaryDirectory(prefix="oneflow-ab-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        upstream = start_upstream(work / "nginx", UPSTREAM_PORT, cpu="1")
        stack.callback(upstream.server.stop)
        gateways: list[Gateway] = []
        for port, (side, binary) in zip(PORTS, sides, strict=True):
            extra = stack.enter_context(side.resources())  # a fresh database each (PostgreSQL modes)
            wired = replace(side, env={**side.env, **extra})
            gateway = start_oneflow(work, upstream, wired, port=port, cpu="0", binary=binary)
            stack.callback(gateway.server.stop)
            gateways.append(gateway)
        scripts = []
        for i, gateway in enumerate(gateways):
            key = asyncio.run(sides[i][0].client_key(gateway.base_url, MASTER_KEY))
            scripts.append(write_script(work / f"chat-{i}.lua", canned.chat_request(CHAT_MODEL), key))
        urls = [f"{g.base_url}/chat/completions" for g in gateways]
        for url, script in zip(urls, scripts, strict=True):
            run_wrk(url, script, connections=64, duration_s=3)  # warm-up
        rates: tuple[list[float], list[float]] = ([], [])
        for i in order(pairs):
            result = run_wrk(urls[i], scripts[i], connections=64, duration_s=seconds)
            if result.errors:
                raise RuntimeError(f"{result.errors} errors from {gateways[i].name}")
            rates[i].append(result.requests / (result.duration_us / 1e6))
    base, head = rates
    return {
        "mode": mode_name if versus is None else f"{versus} against {mode_name}",
        "baseline_rps": [round(r) for r in base],
        "rps": [round(r) for r in head],
        "baseline_median": round(statistics.median(base)),
        "median": round(statistics.median(head)),
        "change_percent": round(change(head, base), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="the other version's `oneflow` command")
    parser.add_argument("--versus", help="instead of --baseline: this mode of this version against --mode's")
    parser.add_argument("--mode", default="full-sqlite,full-postgres")
    parser.add_argument("--pairs", type=int, default=6, help="slices per version")
    parser.add_argument("--seconds", type=float, default=5, help="length of a slice")
    args = parser.parse_args(argv)
    if (args.baseline is None) == (args.versus is None):
        parser.error("give --baseline or --versus")
    for name in args.mode.split(","):
        print(orjson.dumps(compare(name, args.baseline, args.pairs, args.seconds, args.versus)).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
