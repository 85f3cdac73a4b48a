"""What a login flood does to `/v1`: `python -m bench.probes.login_flood [--source DIR] [--seconds 10]`.

Starts `oneflow serve` (one worker, SQLite, the built-in `demo` model) from this checkout or from `--source` (an
older tree, to compare), then measures `/v1/chat/completions` one request at a time, first alone, then while
`--flooders` clients post logins as fast as they are answered (unknown e-mails: each costs one argon2
verification; the address throttle is off so every login reaches argon2). Prints p50/p99 in milliseconds.
Numbers on a shared machine vary; compare runs made back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

PORT = 18020
KEY = "sk-bench-login-flood"
CHAT = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}


async def _latencies(client: httpx.AsyncClient, seconds: float) -> list[float]:
    out: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        r = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {KEY}"})
        assert r.status_code == 200, r.text
        out.append((time.perf_counter() - t) * 1000)
    return out


async def _flood(client: httpx.AsyncClient, stop: asyncio.Event, counts: dict[int, int]) -> None:
    while not stop.is_set():
        body = {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "not the password"}
        r = await client.post("/api/v1/admin/auth/login", json=body)
        counts[r.status_code] = counts.get(r.status_code, 0) + 1


async def measure(url: str, seconds: float, flooders: int) -> None:
    limits = httpx.Limits(max_connections=flooders + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await _latencies(client, 1.0)  # warm
        alone = await _latencies(client, seconds)
        stop, counts = asyncio.Event(), {}
        tasks = [asyncio.create_task(_flood(client, stop, counts)) for _ in range(flooders)]
        await asyncio.sleep(1.0)
        flooded = await _latencies(client, seconds)
        stop.set()
        await asyncio.gather(*tasks)
    for name, values in (("alone", alone), (f"login flood ({flooders} clients)", flooded)):
        q = statistics.quantiles(values, n=100)
        print(f"{name:>28}: p50 {q[49]:6.2f} ms  p99 {q[98]:7.2f} ms  ({len(values)} requests)")
    print(f"{'logins answered':>28}: {dict(sorted(counts.items()))}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", help="the tree whose oneflow_ai runs (default: this checkout)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flooders", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        env = {
            **os.environ,
            "ONEFLOW_MASTER_KEY": KEY,
            "ONEFLOW_DATA_DIR": work,
            "ONEFLOW_LOGIN_IP_RPM": "0",
            "ONEFLOW_LOG_LEVEL": "WARNING",
        }
        if args.source:
            env["PYTHONPATH"] = str(Path(args.source).resolve())
        server = subprocess.Popen(
            [sys.executable, "-m", "oneflow_ai", "serve", "--port", str(PORT)], env=env, cwd=args.source or None
        )
        try:
            url = f"http://127.0.0.1:{PORT}"
            for _ in range(300):
                try:
                    if httpx.get(url + "/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            asyncio.run(measure(url, args.seconds, args.flooders))
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
