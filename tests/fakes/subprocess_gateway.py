"""`oneflow serve` as a real subprocess on a free port, its stdout and stderr going to files.

Used by the observability tests and by the tests that need two gateway *processes* sharing Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.runner import START_LIMIT_S, free_port

PASSED_ONLY_IF_GIVEN = ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
"""Variables of the test runner's environment that the gateway inherits only when `env` sets them."""


@dataclass
class Served:
    """`oneflow serve` running as a subprocess; its stdout and stderr go to files."""

    process: subprocess.Popen[bytes]
    url: str
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class SubprocessGateways:
    """Starts `oneflow serve` processes with files under `tmp_path`; `stop_all()` stops every one of them."""

    tmp_path: Path
    started: list[Served] = field(default_factory=list)

    def start(self, *, workers: int = 1, env: dict[str, str] | None = None, config_yaml: str | None = None) -> Served:
        """The real CLI on a free port with its own temp data dir; returns once `/health` answers 200."""
        n = len(self.started)
        port = free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFLOW_", "PROMETHEUS_", "OTEL_"))}
        environ.update(
            {
                "ONEFLOW_MASTER_KEY": MASTER_KEY,
                "ONEFLOW_DATA_DIR": str(self.tmp_path / f"data-{n}"),
                "UPSTREAM_KEY": UPSTREAM_KEY,
                "ONEFLOW_LEDGER_INTERVAL_S": "0.05",
                **(env or {}),
            }
        )
        for name in PASSED_ONLY_IF_GIVEN:
            if env is None or name not in env:
                environ.pop(name, None)
        args = [sys.executable, "-m", "oneflow_ai", "serve", "--port", str(port), "--workers", str(workers)]
        if config_yaml is not None:
            config = self.tmp_path / f"serve-{n}.yaml"
            config.write_text(config_yaml)
            args += ["--config", str(config)]
        out, err = self.tmp_path / f"serve-{n}.out", self.tmp_path / f"serve-{n}.err"
        with out.open("wb") as o, err.open("wb") as e:
            process = subprocess.Popen(args, stdout=o, stderr=e, env=environ)
        served = Served(process, f"http://127.0.0.1:{port}", out, err)
        self.started.append(served)
        wait_until_up(served)
        return served

    def stop_all(self) -> None:
        for served in self.started:
            served.stop()


def wait_until_up(served: Served, timeout_s: float = START_LIMIT_S) -> None:
    """Until `/health` answers 200; a process that exits fails the wait at once, with its output."""
    deadline = time.monotonic() + timeout_s
    while True:
        if served.process.poll() is not None:
            raise RuntimeError(f"oneflow serve exited with {served.process.returncode}: {served.output()}")
        try:
            if httpx.get(served.url + "/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            served.stop()
            raise RuntimeError(f"oneflow serve did not answer /health within {timeout_s:g}s: {served.output()}")
        time.sleep(0.1)
