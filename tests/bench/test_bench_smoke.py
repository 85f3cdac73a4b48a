"""Smoke test of the benchmark harness: `python -m bench.run --quick`, every mode, against the real gateway (~45 s)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTS = (18000, 18001)


def _missing() -> str | None:
    for program, package in (("nginx", "nginx-light"), ("wrk", "wrk"), ("taskset", "util-linux")):
        if not (shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/local/sbin:/sbin")):
            return f"{program} is not installed (apt-get install -y {package})"
    if (os.cpu_count() or 1) < 2:
        return "the benchmark needs 2 CPUs"
    for port in PORTS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return f"port {port} is in use (another benchmark running?)"
    return None


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_quick_run_produces_a_table_with_throughput_and_no_errors(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--json", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    header = (
        "| measurement | direct nginx | oneflow bare | oneflow full-sqlite | oneflow full-sqlite-guardrails "
        "| oneflow full-postgres |"
    )
    assert header in run.stdout
    assert "| chat, 64 connections: req/s |" in run.stdout
    # the targets are checked for every full mode, each verdict naming its number
    verdicts = [line for line in run.stdout.splitlines() if line.startswith("- oneflow full-")]
    assert len(verdicts) == 3 and all("req/s at 64 connections" in v for v in verdicts)

    targets = orjson.loads(results.read_bytes())["targets"]
    names = [
        "direct nginx",
        "oneflow bare",
        "oneflow full-sqlite",
        "oneflow full-sqlite-guardrails",
        "oneflow full-postgres",
    ]
    assert [t["name"] for t in targets] == names
    for target in targets:
        for load in ("saturation", "one_connection", "stream", "embeddings"):
            assert target[load]["requests"] > 0, (target["name"], load)
            assert target[load]["errors"] == 0, (target["name"], load)
        assert all(r["errors"] == 0 and r["sent"] > 0 for r in target["rates"].values())
        assert target["ttfb"]["errors"] == 0
        assert target["ttfb"]["frames_per_response"] == 24
    for gateway in targets[1:]:
        assert gateway["rss_kib"]["rest"] > 0
        assert gateway["soak"]["errors"] == 0
