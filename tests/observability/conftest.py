"""Fixtures for observability and edge tests: `oneflow serve` as a real subprocess, and scrape helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.runner import free_port

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def upstream_config(upstream_url: str) -> str:
    dep = f"provider: openai_compatible\n        base_url: {upstream_url}/v1\n        api_key: env:UPSTREAM_KEY"
    return f"""
models:
  - name: mini
    deployments:
      - {dep}
        model: gpt-4o-mini
  - name: broken
    deployments:
      - {dep}
        model: fake-error-500
  - name: embed
    mode: embedding
    deployments:
      - {dep}
        model: text-embedding-3-small
"""


def samples(text: str) -> dict[str, float]:
    """`name{label="v",...}` -> value, for every sample of a Prometheus exposition."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def total(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    result = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                result += s.value
    return result


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


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """`serve(workers=2, env={...}, config_yaml=...)`: the real CLI on a free port, with a temp data dir."""
    started: list[Served] = []

    def start(*, workers: int = 1, env: dict[str, str] | None = None, config_yaml: str | None = None) -> Served:
        n = len(started)
        port = free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFLOW_", "PROMETHEUS_", "OTEL_"))}
        environ.update(
            {
                "ONEFLOW_MASTER_KEY": MASTER_KEY,
                "ONEFLOW_DATA_DIR": str(tmp_path / f"data-{n}"),
                "UPSTREAM_KEY": UPSTREAM_KEY,
                "ONEFLOW_LEDGER_INTERVAL_S": "0.05",
                **(env or {}),
            }
        )
        for name in ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
            if env is None or name not in env:
                environ.pop(name, None)
        args = [sys.executable, "-m", "oneflow_ai", "serve", "--port", str(port), "--workers", str(workers)]
        if config_yaml is not None:
            config = tmp_path / f"serve-{n}.yaml"
            config.write_text(config_yaml)
            args += ["--config", str(config)]
        out, err = tmp_path / f"serve-{n}.out", tmp_path / f"serve-{n}.err"
        with out.open("wb") as o, err.open("wb") as e:
            process = subprocess.Popen(args, stdout=o, stderr=e, env=environ)
        served = Served(process, f"http://127.0.0.1:{port}", out, err)
        started.append(served)
        wait_until_up(served)
        return served

    yield start
    for served in started:
        served.stop()


def wait_until_up(served: Served, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"oneflow serve exited: {served.output()}")
        try:
            if httpx.get(served.url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"oneflow serve did not start: {served.output()}")


def chat(url: str, model: str, text: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={**AUTH, **(headers or {})},
        timeout=30,
        json={"model": model, "messages": [{"role": "user", "content": text}], **body},
    )
