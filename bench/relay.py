"""The brief's yardstick in the same run: the minimal raw-ASGI relay (uvicorn + uvloop + httptools, aiohttp
client; `bench/probes/asgi_aiohttp.py`), on the gateway's core, at 64 connections.

The brief measured it at ~6,000 req/s on its machine; these VMs differ by a factor of two between sessions.
A gateway's req/s as a share of this relay's, from one run, compares across machines where req/s alone
cannot: `scaled` is what that share would be on the brief's machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench import canned
from bench.gateway import CHAT_MODEL
from bench.probes.measure import PROBE_PORT as PORT
from bench.probes.measure import UVICORN
from bench.procs import start_server
from bench.upstream import Upstream
from bench.wrk import WrkResult, run_wrk, write_script

BRIEF_RELAY_RPS = 6000


def measure_relay(work: Path, upstream: Upstream, *, cpu: str, load_cpu: str, seconds: float) -> WrkResult:
    command = [*UVICORN, "--port", str(PORT), "bench.probes.asgi_aiohttp:app"]  # as the selection probe runs it
    env = {**os.environ, "PROBE_UPSTREAM": f"{upstream.base_url}/chat/completions"}
    server = start_server("minimal relay", ["taskset", "-c", cpu, *command], PORT, log=work / "relay.log", env=env)
    try:
        script = write_script(work / "relay.lua", canned.chat_request(CHAT_MODEL), None)
        url = f"http://127.0.0.1:{PORT}/v1/chat/completions"
        run_wrk(url, script, connections=64, duration_s=2, cpu=load_cpu)  # warm-up
        return run_wrk(url, script, connections=64, duration_s=seconds, cpu=load_cpu)
    finally:
        server.stop()


def scaled(rps: float, relay_rps: float) -> float:
    """`rps` on the brief's machine, by its share of the relay's req/s in the same run."""
    return rps / relay_rps * BRIEF_RELAY_RPS if relay_rps > 0 else 0.0
