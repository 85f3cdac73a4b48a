"""The benchmark: `.venv/bin/python -m bench.run [--quick] [--mode bare] [--litellm] [--write-docs]`.

Starts nginx as a fake OpenAI upstream (port 18001, core 1), the gateway (port 18000, core 0), measures both
the gateway and nginx directly in the same run, and prints a markdown table. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import orjson

from bench import canned
from bench.gateway import CHAT_MODEL, EMBED_MODEL, STREAM_MODEL, Gateway, litellm_binary, start_litellm, start_oneflow
from bench.modes import MASTER_KEY, KeyFactory, Mode, master_key, modes
from bench.openloop import OpenLoopResult, open_loop
from bench.procs import listener_pids, pinned, rss_kib, worker_pids
from bench.relay import measure_relay
from bench.report import TargetRun, machine, section, table, targets, write_docs
from bench.stream import measure_ttfb
from bench.upstream import MissingTool, Upstream, require, start_upstream
from bench.wrk import WrkResult, run_wrk, write_script

UPSTREAM_PORT, GATEWAY_PORT, LITELLM_PORT = 18001, 18000, 18002
GATEWAY_CPU, LOAD_CPU = "0", "1"
CONNECTIONS = 64
RATES = (500, 1000)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    """How long each measurement runs (seconds, or requests for time-to-first-byte)."""

    warmup_s: float
    saturation_s: float
    one_connection_s: float
    rate_s: float
    ttfb_requests: int
    stream_s: float
    soak_s: float
    soak_rate: int = 500


FULL = Plan(warmup_s=3, saturation_s=15, one_connection_s=10, rate_s=15, ttfb_requests=300, stream_s=10, soak_s=600)
QUICK = Plan(warmup_s=0, saturation_s=2, one_connection_s=1, rate_s=1, ttfb_requests=20, stream_s=1, soak_s=2)


@dataclass(frozen=True)
class Target:
    """Where the load goes: a base URL up to /v1, the key to send, and model names (direct nginx ignores them)."""

    name: str
    chat_url: str
    stream_url: str
    embeddings_url: str
    api_key: str | None
    pid: int | None = None


@dataclass(frozen=True)
class Scripts:
    chat: Path
    stream: Path
    embeddings: Path


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_scripts(work: Path, api_key: str | None, tag: str) -> Scripts:
    embed = orjson.dumps({"model": EMBED_MODEL, "input": "The quick brown fox jumps over the lazy dog."})
    return Scripts(
        chat=write_script(work / f"chat-{tag}.lua", canned.chat_request(CHAT_MODEL), api_key),
        stream=write_script(work / f"stream-{tag}.lua", canned.chat_request(STREAM_MODEL, stream=True), api_key),
        embeddings=write_script(work / f"embeddings-{tag}.lua", embed, api_key),
    )


def check_target(target: Target) -> None:
    """One request per endpoint before measuring, so a broken setup fails loudly instead of benchmarking errors."""
    cases = [
        (target.chat_url, canned.chat_request(CHAT_MODEL), b'"usage"'),
        (target.stream_url, canned.chat_request(STREAM_MODEL, stream=True), b"data: [DONE]"),
        (target.embeddings_url, orjson.dumps({"model": EMBED_MODEL, "input": "x"}), b'"embedding"'),
    ]
    headers = {"content-type": "application/json"}
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    for url, body, expect in cases:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                got = response.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{target.name}: POST {url} answered {e.code}: {e.read()[:500]!r}") from None
        if expect not in got:
            raise RuntimeError(f"{target.name}: POST {url} answered without {expect!r}: {got[:500]!r}")


def rss(target: Target) -> int:
    return sum(rss_kib(p) for p in worker_pids(target.pid)) if target.pid else 0


def measure(target: Target, scripts: Scripts, plan: Plan, *, soak: bool, rates_last: bool = False) -> TargetRun:
    """Every measurement of one target. `rates_last`: the fixed rates after the rest, for a target that cannot
    sustain them (LiteLLM): the backlog they leave would otherwise still be draining when wrk measures."""
    check_target(target)
    rss_kib: dict[str, int] = {"rest": rss(target)} if target.pid else {}

    def wrk(url: str, script: Path, connections: int, seconds: float) -> WrkResult:
        return run_wrk(url, script, connections=connections, duration_s=seconds, cpu=LOAD_CPU)

    def rate_run(rate: int, seconds: float) -> OpenLoopResult:
        log(f"{target.name}: {rate} req/s for {seconds:.0f}s (open loop)")
        return asyncio.run(
            open_loop(target.chat_url, canned.chat_request(CHAT_MODEL), target.api_key, rate=rate, seconds=seconds)
        )

    if plan.warmup_s:
        log(f"{target.name}: warm-up {plan.warmup_s:.0f}s")
        wrk(target.chat_url, scripts.chat, CONNECTIONS, plan.warmup_s)
    log(f"{target.name}: 1 connection for {plan.one_connection_s:.0f}s")
    one = wrk(target.chat_url, scripts.chat, 1, plan.one_connection_s)
    rates = {} if rates_last else {rate: rate_run(rate, plan.rate_s) for rate in RATES}
    log(f"{target.name}: {CONNECTIONS} connections for {plan.saturation_s:.0f}s")
    saturation = wrk(target.chat_url, scripts.chat, CONNECTIONS, plan.saturation_s)
    log(f"{target.name}: streaming, {CONNECTIONS} connections, then time to first byte")
    stream = wrk(target.stream_url, scripts.stream, CONNECTIONS, plan.stream_s)
    stream_body = canned.chat_request(STREAM_MODEL, stream=True)
    ttfb = asyncio.run(measure_ttfb(target.stream_url, stream_body, target.api_key, requests=plan.ttfb_requests))
    log(f"{target.name}: embeddings, {CONNECTIONS} connections")
    embeddings = wrk(target.embeddings_url, scripts.embeddings, CONNECTIONS, plan.stream_s)
    if rates_last:
        rates = {rate: rate_run(rate, plan.rate_s) for rate in RATES}
    soak_result = None
    if target.pid:
        rss_kib["loaded"] = rss(target)
        if soak:
            soak_result = rate_run(plan.soak_rate, plan.soak_s)
            rss_kib["soak"] = rss(target)
    return TargetRun(target.name, saturation, one, rates, ttfb, stream, embeddings, rss_kib, soak_result)


def gateway_target(gateway: Gateway) -> Target:
    base = gateway.base_url
    return Target(
        name=gateway.name,
        chat_url=f"{base}/chat/completions",
        stream_url=f"{base}/chat/completions",
        embeddings_url=f"{base}/embeddings",
        api_key=MASTER_KEY,
        pid=gateway.server.pid,
    )


def direct_target(upstream: Upstream) -> Target:
    return Target(
        name="direct nginx",
        chat_url=f"{upstream.base_url}/chat/completions",
        stream_url=f"{upstream.stream_base_url}/chat/completions",
        embeddings_url=f"{upstream.base_url}/embeddings",
        api_key=None,
    )


def run_gateway(
    start: Callable[[], Gateway],
    work: Path,
    plan: Plan,
    client_key: KeyFactory = master_key,
    *,
    soak: bool = True,
    rates_last: bool = False,
) -> TargetRun:
    """Start a gateway, get the key its clients send (the mode's hook), measure it, stop it."""
    gateway = start()
    try:
        target = gateway_target(gateway)
        target = replace(target, api_key=asyncio.run(client_key(gateway.base_url, MASTER_KEY)))
        log(f"{gateway.name} is up: {shlex.join(gateway.command)}")
        scripts = write_scripts(work, target.api_key, gateway.name.replace(" ", "-"))
        return measure(target, scripts, plan, soak=soak, rates_last=rates_last)
    finally:
        gateway.server.stop()


def against_baseline(gateways: list[TargetRun]) -> list[str]:
    """Each mode's req/s beside its baseline's from the same run, and the change."""
    runs = {g.name: g for g in gateways}
    out = []
    for g in gateways:
        base = runs.get(f"{g.name} (baseline)")
        if base is not None and base.saturation.rps:
            change = (g.saturation.rps / base.saturation.rps - 1) * 100
            rps, was = g.saturation.rps, base.saturation.rps
            out.append(f"{g.name}: {rps:,.0f} req/s, baseline {was:,.0f} ({change:+.1f} %)")
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds per measurement")
    parser.add_argument(
        "--mode",
        default="all",
        help="gateway modes, comma-separated, or all (default): " + ", ".join(modes()),
    )
    parser.add_argument("--litellm", action="store_true", help="also measure LiteLLM's proxy (skipped if absent)")
    parser.add_argument("--soak-seconds", type=float, help="override the soak duration (600 s full, 2 s quick)")
    parser.add_argument(
        "--pin-services",
        action="store_true",
        help=f"run PostgreSQL and Redis on core {LOAD_CPU} with the load (default: where the OS puts them)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another version's `oneflow` command (its own environment): each mode is measured with it too, in "
        "this run, just before this version, and the req/s compared",
    )
    parser.add_argument("--write-docs", action="store_true", help="regenerate the section of docs/performance.md")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs) and print its path")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode_table = modes()
    names = list(mode_table) if args.mode == "all" else [m.strip() for m in args.mode.split(",") if m.strip()]
    unknown = [n for n in names if n not in mode_table]
    if unknown or not names:
        print(f"unknown mode {', '.join(unknown)!r}; known: {', '.join(mode_table)}", file=sys.stderr)
        return 2
    chosen: list[Mode] = [mode_table[n] for n in names]
    try:
        require("nginx", "nginx-light")
        require("wrk", "wrk")
        require("taskset", "util-linux")
    except MissingTool as e:
        print(f"bench: {e}", file=sys.stderr)
        return 3
    if (os.cpu_count() or 1) < 2:
        print("bench: needs at least 2 CPUs (gateway on core 0, load and nginx on core 1)", file=sys.stderr)
        return 3
    plan = QUICK if args.quick else FULL
    if args.soak_seconds is not None:
        plan = replace(plan, soak_s=args.soak_seconds)
    info = machine()  # before the run: `busy` says how much else the machine was doing
    if float(info["busy"].rstrip("%")) > 10:
        log(f"warning: the CPUs were {info['busy']} busy before the run; the numbers will be noisy")
    os.sched_setaffinity(0, {int(LOAD_CPU)})  # this process drives the open-loop and streaming clients

    work = Path(tempfile.mkdtemp(prefix="oneflow-bench-"))
    upstream = start_upstream(work / "nginx", UPSTREAM_PORT, cpu=LOAD_CPU)
    skipped: list[str] = []
    try:
        direct = measure(direct_target(upstream), write_scripts(work, None, "direct"), plan, soak=False)
        log("the minimal relay (uvicorn + aiohttp), 64 connections")
        relay = measure_relay(work, upstream, cpu=GATEWAY_CPU, load_cpu=LOAD_CPU, seconds=plan.saturation_s)
        info["relay_rps"] = f"{relay.rps:.0f}"
        gateways = []
        for mode in chosen:
            for binary in (args.baseline, None) if args.baseline else (None,):
                services = [pid for port in mode.services for pid in listener_pids(port)] if args.pin_services else []
                with mode.resources() as extra_env, pinned(services, LOAD_CPU) as moved:
                    if services and not moved:
                        log(f"warning: could not move the servers on ports {mode.services} to core {LOAD_CPU}")
                    wired = replace(mode, env={**mode.env, **extra_env})
                    start = partial(
                        start_oneflow, work, upstream, wired, port=GATEWAY_PORT, cpu=GATEWAY_CPU, binary=binary
                    )
                    gateways.append(run_gateway(start, work, plan, mode.client_key))
        if args.litellm:
            if litellm_binary() is None:
                skipped.append("LiteLLM: not installed (pip install 'litellm[proxy]' or set BENCH_LITELLM), skipped.")
                log(skipped[-1])
            else:
                gateways.append(
                    run_gateway(
                        lambda: start_litellm(work, upstream, port=LITELLM_PORT, cpu=GATEWAY_CPU),
                        work,
                        plan,
                        soak=False,
                        rates_last=True,
                    )
                )
    finally:
        upstream.server.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    frames = canned.stream_frame_count()
    results = table(direct, gateways, frames)
    command = ".venv/bin/python -m bench.run" + (" " + shlex.join(argv if argv is not None else sys.argv[1:])).rstrip()
    notes = notes_for(plan, chosen, litellm=args.litellm and not skipped, pin_services=args.pin_services)
    notes += skipped + error_notes([direct, *gateways])
    verdicts = targets(direct, gateways, relay.rps)
    print(f"\n{results}\n")
    for note in notes:
        print(f"- {note}")
    print("\nTargets (issue 7, full modes):")
    for line in verdicts:
        print(f"- {line}")
    if args.baseline:
        print(f"\nAgainst the baseline ({args.baseline}), chat at 64 connections:")
        for line in against_baseline(gateways):
            print(f"- {line}")
    if args.json:
        raw = {
            "machine": info,
            "modes": [m.name for m in chosen],
            "plan": asdict(plan),
            "targets": [asdict(t) for t in (direct, *gateways)],
            "relay": asdict(relay),
        }
        args.json.write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    if args.write_docs:
        write_docs(ROOT / "docs" / "performance.md", section(results, info, command, notes, verdicts))
        log("wrote docs/performance.md")
    return 0


def error_notes(runs: list[TargetRun]) -> list[str]:
    """What the open-loop errors were, per target and run (wrk only counts them)."""
    notes = []
    for run in runs:
        labelled = [(f"{rate} req/s", r) for rate, r in run.rates.items()] + ([("soak", run.soak)] if run.soak else [])
        for label, result in labelled:
            if result.error_kinds:
                kinds = ", ".join(f"{n} × {kind}" for kind, n in sorted(result.error_kinds.items()))
                notes.append(f"Errors, {run.name}, {label}: {kinds}.")
    return notes


def notes_for(plan: Plan, chosen: list[Mode], *, litellm: bool, pin_services: bool = False) -> list[str]:
    return [
        *(f"Mode `{mode.name}`: {mode.description}." for mode in chosen),
        *(
            [
                "LiteLLM: its proxy from PyPI in a virtual environment of its own, one worker, master key only, the"
                " same upstream and models; its fixed-rate runs come last and it has no soak (it cannot sustain"
                " 500 req/s)."
            ]
            if litellm
            else []
        ),
        f"Gateway pinned to core {GATEWAY_CPU} (one worker); nginx, wrk and the Python clients on core {LOAD_CPU}.",
        f"req/s and 64-connection latencies: wrk, closed loop, {plan.saturation_s:.0f} s"
        f" (streaming and embeddings {plan.stream_s:.0f} s);"
        f" 1-connection latency: wrk -c1, {plan.one_connection_s:.0f} s.",
        f"Fixed-rate latency: bench/openloop.py (aiohttp, open loop, latency counted from each request's due time;"
        f" wrk2 is not packaged in Debian), {plan.rate_s:.0f} s per rate.",
        "Added latency = gateway minus direct-to-nginx, same run, same client.",
        (
            f"PostgreSQL and Redis (full-postgres) run on core {LOAD_CPU}, beside the load (--pin-services)."
            if pin_services
            else "PostgreSQL and Redis (full-postgres) run where the OS puts them, either core."
        ),
        f"Time to first byte: {plan.ttfb_requests} sequential streamed requests over one connection.",
        f"RSS: VmRSS of the worker process; soak = {plan.soak_rate} req/s for {plan.soak_s:.0f} s.",
    ]


if __name__ == "__main__":
    sys.exit(main())
