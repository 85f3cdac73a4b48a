"""Closed-loop load with wrk: a generated Lua script POSTs a fixed body and prints a JSON summary line."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.upstream import require

_MARK = "BENCH_JSON "

_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}
wrk.body = [==[{body}]==]

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
    .. '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run. Latencies in microseconds; `errors` counts socket errors, timeouts and non-2xx/3xx."""

    requests: int
    duration_us: int
    bytes: int
    errors: int
    p50_us: int
    p90_us: int
    p99_us: int
    max_us: int

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0


def write_script(path: Path, body: bytes, api_key: str | None) -> Path:
    auth = f'wrk.headers["Authorization"] = "Bearer {api_key}"' if api_key else ""
    path.write_text(_LUA.format(auth=auth, body=body.decode(), mark=_MARK))
    return path


def run_wrk(
    url: str,
    script: Path,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    cpu: str = "1",
    timeout_s: int = 10,
) -> WrkResult:
    """Run wrk pinned to `cpu` against `url` and return its summary."""
    wrk = require("wrk", "wrk")
    cmd = [
        "taskset",
        "-c",
        cpu,
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith(_MARK)), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    raw = orjson.loads(line[len(_MARK) :])
    errors = sum(int(raw[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        requests=int(raw["requests"]),
        duration_us=int(raw["duration_us"]),
        bytes=int(raw["bytes"]),
        errors=errors,
        p50_us=int(raw["p50_us"]),
        p90_us=int(raw["p90_us"]),
        p99_us=int(raw["p99_us"]),
        max_us=int(raw["max_us"]),
    )


def wrk_version() -> str:
    out = subprocess.run([require("wrk", "wrk"), "-v"], capture_output=True, text=True)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" [")[0].removeprefix("wrk ") if first else "?"
