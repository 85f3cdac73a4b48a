"""Instructions per request of the gateway's own work: `.venv/bin/python -m bench.instructions [--mode full-sqlite]`.

Runs `bench.hot_path` (the ASGI app in-process, the upstream a canned transport) under valgrind's callgrind twice,
with two request counts, and prints the difference per request: start-up and warm-up cancel out. Unlike seconds,
an instruction count does not move with what else the VM does (these VMs vary by a quarter between runs, and
stall for 5-20 ms a few times a second), so it tells a change of a few per cent in the hot path from noise (the
ledger's and the log's batches still depend on timing: the same code measured twice differed by up to 2 %).
Run it on the change and on the commit before (`git worktree add /tmp/base HEAD`, then `--checkout /tmp/base`).
It counts user space only: a saved system call shows in `bench.run`, not here. Needs valgrind; a few minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(checkout: Path, mode: str, requests: int, stream: bool) -> int:
    """Instructions callgrind counted for a whole `bench.hot_path` run (imported from `checkout`)."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m", "bench.hot_path"]
    cmd += ["--mode", mode, "--requests", str(requests)] + (["--stream"] if stream else [])
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
    out = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    found = REFS.search(out.stderr)
    if out.returncode != 0 or found is None:
        raise RuntimeError(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="full-sqlite")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--requests", type=int, default=1024, help="the difference between the two runs")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="measure the code of this checkout")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install -y valgrind", file=sys.stderr)
        return 3
    small, large = 256, 256 + args.requests
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(instructions, args.checkout, args.mode, n, args.stream) for n in (small, large)]
        few, many = (r.result() for r in runs)
    kind = "stream" if args.stream else "chat"
    print(f"{args.checkout} mode {args.mode}, {kind}: {(many - few) / args.requests:,.0f} instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
