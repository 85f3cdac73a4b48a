"""`oneflow serve` as a new user runs it: "listening on ..." is printed once the gateway answers on its port, never
when the port cannot be had (issue 15 #8: the line came ~10 s before the port was bound, and also when binding
then failed)."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.runner import START_LIMIT_S, free_port


def serve(tmp_path: Path, port: int, *, workers: int = 1) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFLOW_", "PROMETHEUS_", "OTEL_"))}
    for name in ("DATABASE_URL", "REDIS_URL"):
        environ.pop(name, None)
    environ |= {"ONEFLOW_MASTER_KEY": MASTER_KEY, "ONEFLOW_DATA_DIR": str(tmp_path / "data")}
    args = [sys.executable, "-m", "oneflow_ai", "serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ)


def lines(stream: IO[str] | None) -> queue.Queue[str | None]:
    """The stream's lines as they come (None once it ends), read by a thread so that a wait can have a limit."""
    assert stream is not None
    out: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            out.put(line)
        out.put(None)

    threading.Thread(target=read, daemon=True).start()
    return out


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for p in processes:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def test_a_taken_port_is_an_error_and_no_listening_line(tmp_path: Path, stopped: list[subprocess.Popen[str]]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = serve(tmp_path, port)
        stopped.append(process)
        output, _ = process.communicate(timeout=START_LIMIT_S)
    assert process.returncode != 0
    assert f"cannot listen on http://127.0.0.1:{port}: Address already in use" in output, output
    assert "listening" not in output


@pytest.mark.parametrize("workers", [1, 2])
def test_listening_is_printed_once_the_port_answers(
    tmp_path: Path, stopped: list[subprocess.Popen[str]], workers: int
) -> None:
    port = free_port()
    process = serve(tmp_path, port, workers=workers)
    stopped.append(process)
    out = lines(process.stdout)
    deadline = time.monotonic() + START_LIMIT_S
    while True:
        line = out.get(timeout=max(0.0, deadline - time.monotonic()))
        assert line is not None, f"oneflow serve ended (status {process.wait()}) without saying that it listens"
        if "listening on" in line:
            break
    assert line.strip().endswith(f"listening on http://127.0.0.1:{port} (docs: /docs)")
    r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=30)  # right away, once: no waiting for it to come up
    assert r.status_code == 200
