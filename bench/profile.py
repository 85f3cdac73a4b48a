"""Profile the gateway's hot path: `.venv/bin/python -m bench.profile [--mode full-sqlite] [--seconds 15]`.

Starts the fake upstream and the gateway as the benchmark does (same modes, same cores), drives it with wrk at
64 connections while `py-spy record` samples the worker, and prints where the time goes: the functions with the
most samples on their own (self) and under them (inclusive). `--out DIR` keeps the raw collapsed stacks (and a
speedscope file) for a closer look. Needs `pip install py-spy` in the venv (or on PATH).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench.gateway import start_oneflow
from bench.modes import MASTER_KEY, modes
from bench.procs import worker_pids
from bench.run import GATEWAY_CPU, GATEWAY_PORT, LOAD_CPU, UPSTREAM_PORT, check_target, gateway_target, write_scripts
from bench.upstream import start_upstream
from bench.wrk import run_wrk


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def _short(frame: str) -> str:
    """`fn (path/to/module.py:12)` -> `fn (module.py)`."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].split('/')[-1]})"


def summarize(collapsed: Path, top: int) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed (`raw`) output."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            under[f] += n
    lines = [f"{total} samples", "", "self %   function"]
    lines += [f"{100 * n / total:6.2f}   {f}" for f, n in own.most_common(top)]
    lines += ["", "incl %   function"]
    lines += [f"{100 * n / total:6.2f}   {f}" for f, n in under.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="bare", help="gateway mode: " + ", ".join(modes()))
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--endpoint", choices=("chat", "stream", "embeddings"), default="chat")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, help="keep the collapsed stacks and a speedscope file here")
    parser.add_argument("--native", action="store_true", help="include native (C) frames")
    args = parser.parse_args(argv)
    mode = modes()[args.mode]
    spy = py_spy()
    work = Path(tempfile.mkdtemp(prefix="oneflow-profile-"))
    out = args.out or work
    out.mkdir(parents=True, exist_ok=True)
    upstream = start_upstream(work / "nginx", UPSTREAM_PORT, cpu=LOAD_CPU)
    try:
        with mode.resources() as extra_env:
            wired = replace(mode, env={**mode.env, **extra_env})
            gateway = start_oneflow(work, upstream, wired, port=GATEWAY_PORT, cpu=GATEWAY_CPU)
            try:
                target = gateway_target(gateway)
                target = replace(target, api_key=asyncio.run(mode.client_key(gateway.base_url, MASTER_KEY)))
                check_target(target)
                scripts = write_scripts(work, target.api_key, "profile")
                script = getattr(scripts, args.endpoint)
                url = target.embeddings_url if args.endpoint == "embeddings" else target.chat_url
                run_wrk(url, script, connections=args.connections, duration_s=3, cpu=LOAD_CPU)  # warm-up
                pid = worker_pids(gateway.server.pid)[0]
                collapsed = out / "profile.txt"
                cmd = [spy, "record", "--pid", str(pid), "--rate", str(args.rate), "--format", "raw"]
                cmd += ["--duration", str(int(args.seconds) + 1), "--output", str(collapsed)]
                cmd += ["--native"] if args.native else ["--nonblocking"]
                spy_proc = subprocess.Popen(
                    ["taskset", "-c", LOAD_CPU, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
                time.sleep(0.5)
                result = run_wrk(url, script, connections=args.connections, duration_s=args.seconds, cpu=LOAD_CPU)
                _, err = spy_proc.communicate(timeout=60)
                if spy_proc.returncode != 0:
                    print(err.decode(errors="replace"), file=sys.stderr)
                    return 1
            finally:
                gateway.server.stop()
    finally:
        upstream.server.stop()
    print(f"mode {mode.name}, {args.endpoint}, {args.connections} connections: {result.rps:,.0f} req/s under py-spy")
    print(summarize(collapsed, args.top))
    if args.out is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\nkept {collapsed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
