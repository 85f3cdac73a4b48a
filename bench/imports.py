"""What a worker imports, and what each import costs: `.venv/bin/python -m bench.imports [--worker] [--top N]`.

Deterministic measures only (RSS read from /proc, module counts), each in a fresh interpreter:

1. A bare `python` (the floor), `import oneflow_ai.app`, and the app built and started for the `full-sqlite`
   mode (`bench.modes`: its config and environment, the database migrated beforehand as `oneflow serve` does,
   the lifespan run to its `yield`): RSS and modules loaded at each step, ours and in all.
2. For every top-level package present once the app has started (third-party, the standard library's bigger
   ones, and each `oneflow_ai.<sub>` package: all of its modules the app loads), the RSS and modules it adds when
   imported alone on top of a bare `python` (ours: on top of `import oneflow_ai`, whose `__init__` loads pricing,
   routing and the upstream client). Shared dependencies are counted in each package that pulls them, so the
   column does not add up.
3. `--worker`: a real `oneflow serve` worker in `full-sqlite` mode beside an nginx upstream (as `bench.workers`):
   its VmRSS at rest (start-up done, the mode's virtual key created, no call served yet).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter: print a JSON line {"rss_kib", "modules"} after `steps` (Python source, one per step).
PROBE = """
import json, re, sys
def rss():
    with open('/proc/self/status') as f:
        return int(re.search(r'VmRSS:\\s+(\\d+)', f.read()).group(1))
out = []
for step in json.loads(sys.argv[1]):
    exec(step, globals())
    out.append({"rss_kib": rss(), "modules": sorted(sys.modules)})
print(json.dumps(out))
"""

START_APP = """
import asyncio, os
from oneflow_ai.app import create_app
app = create_app(environ=dict(os.environ))
async def _start():
    queue = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    sent = []
    async def receive():
        return await queue.get()
    async def send(message):
        sent.append(message)
        if message["type"].startswith("lifespan.startup"):
            started.set()
    started = asyncio.Event()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send))
    await started.wait()
    assert sent[-1]["type"] == "lifespan.startup.complete", sent
    await queue.put({"type": "lifespan.shutdown"})
    return task
loop = asyncio.new_event_loop()
_task = loop.run_until_complete(_start())
"""


def probe(steps: list[str], env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """RSS (KiB) and the modules loaded after each step, in one fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(steps)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result: list[dict[str, Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def full_sqlite_env(work: Path) -> dict[str, str]:
    """The `full-sqlite` mode's environment and config (an upstream that is never called), migrated beforehand."""
    import yaml

    from bench.gateway import oneflow_config
    from bench.modes import MASTER_KEY, modes
    from bench.upstream import Upstream

    mode = modes()["full-sqlite"]
    upstream = Upstream(server=None, port=18099)  # type: ignore[arg-type]  # only its URLs are read
    config = work / "oneflow.yaml"
    config.write_text(yaml.safe_dump(oneflow_config(upstream, mode), sort_keys=False))
    env = {
        **os.environ,
        "ONEFLOW_MASTER_KEY": MASTER_KEY,
        "ONEFLOW_DATA_DIR": str(work / "data"),
        "ONEFLOW_CONFIG": str(config),
        "BENCH_UPSTREAM_KEY": "sk-upstream",
        **mode.env,
    }
    for name in ("REDIS_URL", "DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "oneflow_ai", "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
    return env


def family(module: str) -> str:
    """The package a module is counted under: `oneflow_ai.<sub>` for ours, the top-level name for the rest."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "oneflow_ai" and len(parts) > 1 else parts[0]


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def worker_at_rest() -> float:
    """VmRSS (MiB) of one `oneflow serve` worker in full-sqlite mode once started and its key created."""
    from bench.gateway import start_oneflow
    from bench.modes import MASTER_KEY, modes
    from bench.procs import rss_kib
    from bench.upstream import start_upstream

    mode = modes()["full-sqlite"]
    with tempfile.TemporaryDirectory(prefix="oneflow-imports-") as tmp:
        work = Path(tmp)
        upstream = start_upstream(work / "nginx", 18071, cpu="0,1")
        try:
            gateway = start_oneflow(work, upstream, mode, port=18072, cpu=None)
            try:
                asyncio.run(mode.client_key(gateway.base_url, MASTER_KEY))
                return mib(rss_kib(gateway.server.pid))
            finally:
                gateway.server.stop()
        finally:
            upstream.server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help="also measure a running full-sqlite worker at rest")
    parser.add_argument("--top", type=int, default=40, help="packages to list, biggest first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oneflow-imports-") as tmp:
        env = full_sqlite_env(Path(tmp))
        bare, imported, started = probe(["pass", "import oneflow_ai.app", START_APP], env)
    print(f"{'step':<34} {'RSS MiB':>8} {'modules':>8} {'ours':>6}")
    for name, step in (
        ("bare python", bare),
        ("import oneflow_ai.app", imported),
        ("full-sqlite app started", started),
    ):
        ours = sum(1 for m in step["modules"] if m.split(".")[0] == "oneflow_ai")
        print(f"{name:<34} {mib(step['rss_kib']):>8} {len(step['modules']):>8} {ours:>6}")
    floor = set(bare["modules"])
    counts = Counter(family(m) for m in started["modules"] if m not in floor)
    added = sorted(set(started["modules"]) - set(imported["modules"]))
    print(f"\nloaded by start-up beyond the import ({len(added)}): {', '.join(added) or '-'}")
    rows = []
    for package, count in counts.items():
        if count < 2 and not package.startswith("oneflow_ai."):
            continue
        ours = package.startswith("oneflow_ai.")  # on top of `import oneflow_ai` (its __init__ imports plenty)
        # ours: every module of the package that the app loads (a package's own __init__ is mostly empty)
        names = [m for m in started["modules"] if family(m) == package] if ours else [package]
        load = f"import importlib\nfor m in {names!r}: importlib.import_module(m)"
        try:
            base, alone = probe(["import oneflow_ai" if ours else "pass", load], env)
        except RuntimeError:
            continue
        rows.append(
            (alone["rss_kib"] - base["rss_kib"], package, count, len(set(alone["modules"]) - set(base["modules"])))
        )
    print(f"\n{'package (alone on a bare python)':<34} {'+RSS MiB':>8} {'in app':>8} {'alone':>6}")
    for extra, package, count, alone_count in sorted(rows, reverse=True)[: args.top]:
        print(f"{package:<34} {mib(extra):>8} {count:>8} {alone_count:>6}")
    if args.worker:
        print(f"\nfull-sqlite worker at rest: {worker_at_rest()} MiB")


if __name__ == "__main__":
    main()
