"""Starting, watching and stopping the benchmark's child processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _answers(health_url: str) -> bool:
    try:
        with urllib.request.urlopen(health_url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_server(
    name: str,
    cmd: list[str],
    ready: str | int,
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    cwd: Path | None = None,
) -> Server:
    """Start `cmd` with output to `log`; wait until `ready` (a URL answering 200, or a port accepting) holds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    server = Server(name=name, process=process, log=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
        if _answers(ready) if isinstance(ready, str) else _listens(ready):
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} was not ready ({ready}) within {timeout:.0f}s:\n{server.log_tail()}")


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` in KiB (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct children of `pid` (uvicorn's workers when it runs more than one)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def worker_pids(pid: int) -> list[int]:
    """The processes that serve requests: the children if `pid` supervises workers, else `pid` itself."""
    kids = [k for k in children(pid) if os.path.exists(f"/proc/{k}")]
    return kids or [pid]


def listener_pids(port: int) -> list[int]:
    """The processes listening on TCP `port` on this machine (from `ss`), with their children (a PostgreSQL
    postmaster's backends, say)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False).stdout
    pids = {int(p) for p in re.findall(r"pid=(\d+)", out)}
    for pid in list(pids):
        pids.update(children(pid))
    return sorted(pids)


@contextmanager
def pinned(pids: list[int], cpu: str) -> Iterator[list[int]]:
    """Run these processes (all their threads) on `cpu` until the block ends, then give them back every CPU
    they had. Processes that cannot be moved (not ours to move) are left as they are; yields the moved ones."""
    moved: list[tuple[int, set[int]]] = []
    for pid in pids:
        try:
            before = os.sched_getaffinity(pid)
            subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], capture_output=True, check=True)
            moved.append((pid, before))
        except (OSError, subprocess.CalledProcessError):
            continue
    try:
        yield [pid for pid, _ in moved]
    finally:
        for pid, before in moved:
            cpus = ",".join(str(c) for c in sorted(before))
            subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True, check=False)
