"""Open-loop load at a fixed rate, for latency at a given req/s (wrk2 is not packaged in Debian).

Request i is due at `start + i / rate` and is sent then whether or not earlier ones have finished; its latency is
measured from when it was due, so a stall in the server (or here) is counted, not hidden (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import aiohttp

from bench.stats import percentile


@dataclass(frozen=True)
class OpenLoopResult:
    """Latencies in microseconds, measured from each request's due time to its last response byte."""

    rate: float
    sent: int
    errors: int
    error_kinds: dict[str, int]
    p50_us: int
    p99_us: int
    max_us: int
    achieved_rps: float


async def _one(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], due: float, out: list[float]
) -> str | None:
    """Send one request; record its latency; return what went wrong (`status 502`, an exception name) or None."""
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as e:
        return type(e).__name__
    out.append(time.perf_counter() - due)
    return None if status == 200 else f"status {status}"


async def open_loop(url: str, body: bytes, api_key: str | None, *, rate: float, seconds: float) -> OpenLoopResult:
    """Send `rate` requests per second for `seconds` and return the latency distribution."""
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    total = max(1, round(rate * seconds))
    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        # Open a few keep-alive connections first so the first second does not measure connection set-up.
        await asyncio.gather(*(_one(session, url, body, headers, time.perf_counter(), []) for _ in range(8)))
        pending: set[asyncio.Task[str | None]] = set()
        errors: Counter[str] = Counter()

        def finished(task: asyncio.Task[str | None]) -> None:
            pending.discard(task)
            if (error := task.result()) is not None:
                errors[error] += 1

        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(_one(session, url, body, headers, due, latencies))
            pending.add(task)
            task.add_done_callback(finished)
        while pending:
            await asyncio.wait(set(pending))
        elapsed = time.perf_counter() - start
    return OpenLoopResult(
        rate=rate,
        sent=total,
        errors=errors.total(),
        error_kinds=dict(errors),
        p50_us=round(percentile(latencies, 50) * 1e6),
        p99_us=round(percentile(latencies, 99) * 1e6),
        max_us=round(max(latencies, default=0) * 1e6),
        achieved_rps=total / elapsed,
    )
