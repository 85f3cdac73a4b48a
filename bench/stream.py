"""Streaming time to first byte: sequential SSE requests, timing the first body byte and counting frames."""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp

from bench.stats import percentile


@dataclass(frozen=True)
class TtfbResult:
    """Microseconds from sending the request to the first body byte, and to the last."""

    requests: int
    errors: int
    ttfb_p50_us: int
    ttfb_p99_us: int
    total_p50_us: int
    frames_per_response: int


async def measure_ttfb(url: str, body: bytes, api_key: str | None, *, requests: int) -> TtfbResult:
    """Send `requests` streamed chat requests one after another over one keep-alive connection."""
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    first: list[float] = []
    total: list[float] = []
    frames = 0
    errors = 0
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        for i in range(requests + 5):  # the first five warm the connection and the server's caches
            sent = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    chunks = [await response.content.readany()]
                    got_first = time.perf_counter()
                    async for chunk in response.content.iter_any():
                        chunks.append(chunk)
                    done = time.perf_counter()
                    data = b"".join(chunks)
                    ok = response.status == 200 and data.rstrip().endswith(b"data: [DONE]")
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if i < 5:
                continue
            if not ok:
                errors += 1
                continue
            first.append(got_first - sent)
            total.append(done - sent)
            frames = data.count(b"data: ")
    return TtfbResult(
        requests=requests,
        errors=errors,
        ttfb_p50_us=round(percentile(first, 50) * 1e6),
        ttfb_p99_us=round(percentile(first, 99) * 1e6),
        total_p50_us=round(percentile(total, 50) * 1e6),
        frames_per_response=frames,
    )
