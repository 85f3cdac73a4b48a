"""Memory and cores, in one run: `.venv/bin/python -m bench.workers [--mode M ...] [--write-docs]`.

For each mode (both full modes, `full-sqlite` then `full-postgres`, by default; any of `bench.modes`, `--mode`
once per mode), two gateways run at once beside one nginx upstream:
`oneflow serve` with one worker and with `--workers 2`, each on its own data (a fresh database each in the
PostgreSQL mode), each with the mode's key.

1. **Memory.** `VmRSS` of every worker at rest (start-up done, the key created, no call served yet), after load
   (the one-worker gateway: a warm-up, then chat, streaming and embeddings at 64 connections, `--load-seconds`
   each) and at the end of the run. After load is read twice: right after the load, and settled (read every
   0.25 s until it has not fallen for `STEADY_S`, at most `SETTLE_S`): a quiet worker gives memory back
   (`ONEFLOW_IDLE_TRIM_S`), a worker under steady load stays near the first figure. The target (under 100 MB)
   is judged at rest and on the settled figure; the line says whether the figure right after the load holds too.
2. **Cores.** Chat at 64 connections (wrk, 2 threads), in slices of `--seconds` alternating between the two
   gateways (1, 2, 2, 1, ...: each pair in both orders, as `bench.ab`), so that the VM's drift falls on both.
   Nothing is pinned: the OS spreads the gateway, nginx and wrk over the machine's cores, the same for both.
   Per slice: req/s, and the CPU time each side used (the gateway's processes and nginx's from /proc, wrk's from
   this process's children's rusage), which shows how the cores were split.

On a 2-core machine the load generator and the upstream share the cores with the gateway, so two workers never
have two cores to themselves: the req/s ratio (2 workers over 1) is bounded by what wrk and nginx leave. The run
reports that ratio as measured, the cores each side used, and the gateway's req/s per core it used (2 workers
against 1: near 1.0 when the workers scale linearly in the CPU they get). The 1.7x target is judged in a mode
whose gateway is the only server on the machine (full-sqlite); in a mode with servers of its own (PostgreSQL and
Redis: full-postgres) they run on the same two cores, and the section gives the ratio and the cores without a verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shlex
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import orjson

from bench import canned
from bench.ab import order
from bench.cpu_cost import cpu_seconds
from bench.gateway import CHAT_MODEL, EMBED_MODEL, STREAM_MODEL, Gateway, start_oneflow
from bench.modes import MASTER_KEY, modes
from bench.procs import rss_kib, worker_pids
from bench.report import machine, write_docs
from bench.upstream import start_upstream
from bench.wrk import run_wrk, write_script

UPSTREAM_PORT, PORTS = 18061, (18062, 18063)
ALL_CPUS = "0,1"
CONNECTIONS = 64
MARKERS = ("<!-- workers:start -->", "<!-- workers:end -->")
TARGET_MB, TARGET_RATIO = 100, 1.7
FULL_MODES = ("full-sqlite", "full-postgres")
SETTLE_S, STEADY_S, POLL_S = 5.0, 2.5, 0.25
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Slice:
    """One slice of load on one gateway: req/s and the cores each side used (CPU seconds per second)."""

    workers: int
    rps: float
    gateway_cores: float
    nginx_cores: float
    wrk_cores: float
    worker_cores: list[float] = field(default_factory=list)


def serving_pids(gateway: Gateway) -> list[int]:
    """The gateway's workers: `worker_pids` without multiprocessing's resource tracker (a child of the supervisor
    that `--workers N` also starts)."""
    return [p for p in worker_pids(gateway.server.pid) if b"resource_tracker" not in cmdline(p)]


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_mib(pids: list[int]) -> list[float]:
    return [round(rss_kib(p) / 1024, 1) for p in pids]


def settled_rss(pids: list[int]) -> tuple[list[float], float]:
    """Each worker's RSS once it has stopped falling (no lower for `STEADY_S`, read every `POLL_S`), or as it is
    after `SETTLE_S`; and the seconds waited."""
    started = time.monotonic()
    lowest, since = rss_mib(pids), started
    while (now := time.monotonic()) - started < SETTLE_S and now - since < STEADY_S:
        time.sleep(POLL_S)
        current = rss_mib(pids)
        if any(c < low for c, low in zip(current, lowest, strict=True)):
            lowest, since = [min(c, low) for c, low in zip(current, lowest, strict=True)], time.monotonic()
    return rss_mib(pids), round(time.monotonic() - started, 1)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_slice(gateway: Gateway, workers: int, script: Path, seconds: float, nginx_pid: int) -> Slice:
    """wrk on the gateway's chat for `seconds`; the CPU each side spent meanwhile."""
    pid = gateway.server.pid
    kids = serving_pids(gateway)
    before = (cpu_seconds(pid), cpu_seconds(nginx_pid), children_cpu(), [cpu_seconds(k) for k in kids])
    started = time.monotonic()
    result = run_wrk(
        f"{gateway.base_url}/chat/completions",
        script,
        connections=CONNECTIONS,
        duration_s=seconds,
        threads=2,
        cpu=ALL_CPUS,
    )
    wall = time.monotonic() - started
    if result.errors:
        raise RuntimeError(f"{result.errors} errors from {gateway.name}")
    return Slice(
        workers=workers,
        rps=round(result.rps, 1),
        gateway_cores=round((cpu_seconds(pid) - before[0]) / wall, 2),
        nginx_cores=round((cpu_seconds(nginx_pid) - before[1]) / wall, 2),
        wrk_cores=round((children_cpu() - before[2]) / wall, 2),
        worker_cores=[round((cpu_seconds(k) - b) / wall, 2) for k, b in zip(kids, before[3], strict=True)],
    )


def load_one(gateway: Gateway, key: str, work: Path, seconds: float) -> None:
    """The load before 'after load': chat, streaming and embeddings at 64 connections, as `bench.run` sends."""
    bodies = {
        "chat": canned.chat_request(CHAT_MODEL),
        "stream": canned.chat_request(STREAM_MODEL, stream=True),
        "embeddings": orjson.dumps({"model": EMBED_MODEL, "input": "The quick brown fox jumps over the lazy dog."}),
    }
    for name, body in bodies.items():
        path = "embeddings" if name == "embeddings" else "chat/completions"
        script = write_script(work / f"load-{name}.lua", body, key)
        result = run_wrk(
            f"{gateway.base_url}/{path}", script, connections=CONNECTIONS, duration_s=seconds, threads=2, cpu=ALL_CPUS
        )
        if result.errors:
            raise RuntimeError(f"{result.errors} errors from {gateway.name} ({name})")


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0


@dataclass(frozen=True)
class Side:
    """One gateway's slices, summed up: medians of req/s and of the cores each side used."""

    rps: float
    gateway_cores: float
    nginx_cores: float
    wrk_cores: float

    @property
    def rps_per_core(self) -> float:
        return self.rps / self.gateway_cores if self.gateway_cores else 0.0

    @classmethod
    def of(cls, slices: list[Slice]) -> Side:
        return cls(
            median([s.rps for s in slices]),
            median([s.gateway_cores for s in slices]),
            median([s.nginx_cores for s in slices]),
            median([s.wrk_cores for s in slices]),
        )


@dataclass(frozen=True)
class Result:
    """RSS (MiB, one value per worker) and the slices of one run."""

    mode: str
    rest: dict[str, list[float]]  # "1", "2": workers
    after_load: list[float]  # the one-worker gateway, right after the load
    end: dict[str, list[float]]
    slices: list[Slice]
    commands: list[str]
    settled: list[float] = field(default_factory=list)  # the one-worker gateway once its RSS stopped falling
    settled_s: float = 0.0  # how long after the load that was
    services: tuple[str, ...] = ()  # servers of the mode's own on the same cores (PostgreSQL, Redis)

    def side(self, workers: int) -> Side:
        return Side.of([s for s in self.slices if s.workers == workers])

    @property
    def ratio(self) -> float:
        one, two = self.side(1), self.side(2)
        return two.rps / one.rps if one.rps else 0.0

    @property
    def per_core_ratio(self) -> float:
        one, two = self.side(1), self.side(2)
        return two.rps_per_core / one.rps_per_core if one.rps_per_core else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            **asdict(self),
            "one_worker": asdict(self.side(1)),
            "two_workers": asdict(self.side(2)),
            "ratio": round(self.ratio, 3),
            "per_core_ratio": round(self.per_core_ratio, 3),
        }


def measure(mode_name: str, pairs: int, seconds: float, load_s: float) -> Result:
    mode = modes()[mode_name]
    with tempfile.TemporaryDirectory(prefix="oneflow-workers-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        upstream = start_upstream(work / "nginx", UPSTREAM_PORT, cpu=ALL_CPUS)
        stack.callback(upstream.server.stop)
        gateways: dict[int, Gateway] = {}
        keys: dict[int, str] = {}
        for workers, port in zip((1, 2), PORTS, strict=True):
            extra = stack.enter_context(mode.resources())  # a fresh database each (PostgreSQL modes)
            wired = replace(mode, env={**mode.env, **extra})
            gateway = start_oneflow(work, upstream, wired, port=port, cpu=None, workers=workers)
            stack.callback(gateway.server.stop)
            wait_for_workers(gateway, workers)  # `--workers 2` announces once its first worker serves
            gateways[workers] = gateway
            keys[workers] = asyncio.run(mode.client_key(gateway.base_url, MASTER_KEY))
        rest = {str(w): rss_mib(serving_pids(g)) for w, g in gateways.items()}
        load_one(gateways[1], keys[1], work, load_s)
        loaded = rss_mib(serving_pids(gateways[1]))
        settled, settled_s = settled_rss(serving_pids(gateways[1]))
        scripts = {w: write_script(work / f"chat-{w}.lua", canned.chat_request(CHAT_MODEL), keys[w]) for w in (1, 2)}
        for w in (1, 2):  # warm-up: every worker of each gateway has served before the slices
            load_slice(gateways[w], w, scripts[w], min(seconds, 3), upstream.server.pid)
        slices = []
        for i in order(pairs):
            w = (1, 2)[i]
            slices.append(load_slice(gateways[w], w, scripts[w], seconds, upstream.server.pid))
        end = {str(w): rss_mib(serving_pids(g)) for w, g in gateways.items()}
        commands = [shlex.join(g.command) for g in gateways.values()]
    services = ("PostgreSQL", "Redis") if mode.services else ()
    return Result(mode_name, rest, loaded, end, slices, commands, settled, settled_s, services)


def wait_for_workers(gateway: Gateway, count: int, limit_s: float = 60) -> None:
    """Until the gateway has `count` worker processes (one: the server itself)."""
    deadline = time.monotonic() + limit_s
    while len(serving_pids(gateway)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{gateway.name}: {count} workers not up within {limit_s:.0f}s")
        time.sleep(0.1)


def mb(mib: float) -> float:
    return mib * 1024 * 1024 / 1e6


def section(results: list[Result], info: dict[str, str], command: str) -> str:
    """The docs section: the command, the machine, then a table and the verdicts for each mode measured."""
    lines = [
        MARKERS[0],
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {info['cpus']} × {info['cpu']}; CPUs busy with other work just before the run: "
        f"{info['busy']}; python {info['python']}, oneflow-ai {info['oneflow-ai']}, uvicorn {info['uvicorn']}.",
    ]
    for result in results:
        lines += ["", *mode_lines(result)]
    return "\n".join([*lines, "", MARKERS[1]])


def mode_lines(result: Result) -> list[str]:
    """One mode's table, its slices and its verdicts."""
    one, two = result.side(1), result.side(2)
    rest, loaded = max(result.rest["1"]), max(result.after_load)
    settled = max(result.settled or result.after_load)
    slices = ", ".join(f"{s.workers}: {s.rps:,.0f} / {s.gateway_cores:.2f}" for s in result.slices)
    holds_mb = verdict(mb(max(rest, settled)) < TARGET_MB)
    holds_right_after = verdict(mb(max(rest, loaded)) < TARGET_MB)
    if result.services:
        judged = (
            f"not judged: {' and '.join(result.services)} ran on the same cores; the gateway got "
            f"{one.gateway_cores:.2f} and {two.gateway_cores:.2f} of them"
        )
    else:
        judged = f"{verdict(result.ratio >= TARGET_RATIO)}: >= {TARGET_RATIO}x"
    return [
        f"| {result.mode} | 1 worker | 2 workers |",
        "|---|---:|---:|",
        f"| worker RSS MiB at rest | {fmt(result.rest['1'])} | {fmt(result.rest['2'])} |",
        f"| worker RSS MiB right after load (chat, stream, embeddings) | {fmt(result.after_load)} | - |",
        f"| worker RSS MiB after load, settled ({result.settled_s:.1f} s later) | {fmt(result.settled)} | - |",
        f"| worker RSS MiB at the end of the run | {fmt(result.end['1'])} | {fmt(result.end['2'])} |",
        f"| chat, 64 connections: req/s (median of the slices) | {one.rps:,.0f} | {two.rps:,.0f} |",
        f"| cores used: the gateway / nginx / wrk | {cores(one)} | {cores(two)} |",
        f"| req/s per core the gateway used | {one.rps_per_core:,.0f} | {two.rps_per_core:,.0f} |",
        "",
        f"Slices in order (workers: req/s / cores the gateway used): {slices}.",
        "",
        f"- {result.mode}, RSS of one worker: {rest:.0f} MiB = {mb(rest):.0f} MB at rest, {settled:.0f} MiB = "
        f"{mb(settled):.0f} MB after load once settled ({holds_mb}: under {TARGET_MB} MB, judged at rest and "
        f"settled); right after the load {loaded:.0f} MiB = {mb(loaded):.0f} MB ({holds_right_after} there).",
        f"- {result.mode}, 2 workers against 1: {result.ratio:.2f}x the req/s ({judged}); "
        f"{result.per_core_ratio:.2f}x the req/s per core the gateway used.",
    ]


def fmt(values: list[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values)


def cores(side: Side) -> str:
    return f"{side.gateway_cores:.2f} / {side.nginx_cores:.2f} / {side.wrk_cores:.2f}"


def verdict(holds: bool) -> str:
    return "holds" if holds else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode",
        action="append",
        help="a mode to measure, once per mode (default: full-sqlite, full-postgres): " + ", ".join(modes()),
    )
    parser.add_argument("--pairs", type=int, default=4, help="slices per gateway")
    parser.add_argument("--seconds", type=float, default=10, help="length of a slice")
    parser.add_argument("--load-seconds", type=float, default=10, help="each load before 'after load'")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 pair of 1 s slices, 1 s loads")
    parser.add_argument("--write-docs", action="store_true", help="write the section of docs/performance.md")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.seconds, args.load_seconds = 1, 1, 1
    info = machine()
    results = []
    for mode in args.mode or list(FULL_MODES):
        results.append(measure(mode, args.pairs, args.seconds, args.load_seconds))
        print(orjson.dumps(results[-1].as_json()).decode(), flush=True)
    raw = {"modes": [r.as_json() for r in results], "machine": info}
    command = (
        ".venv/bin/python -m bench.workers" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])).rstrip()
    )
    text = section(results, info, command)
    print(text)
    if args.json:
        args.json.write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))
    if args.write_docs:
        write_docs(ROOT / "docs" / "performance.md", text, MARKERS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
