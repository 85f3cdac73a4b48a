"""`oneflow serve --workers 2`: every request is counted exactly once in `/metrics`, whichever worker answers
the request and whichever answers the scrape (once the other worker's snapshot is written)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
from prometheus_client.metrics_core import Metric

from oneflow_ai.observability.worker_metrics import SNAPSHOT_INTERVAL_S, decode
from tests.fakes.runner import START_LIMIT_S
from tests.observability.conftest import AUTH, ServeFactory, total

BURST = 16  # requests in flight at once, each on its own connection, so both workers accept some
# The kernel picks the worker that accepts: a quiet machine can hand one worker a whole burst, and on a busy one the
# second worker may still be starting after the first answered `/health`. Bursts go on until both have served.


async def _burst(url: str, start: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(i: int) -> None:
            r = await client.post(
                "/v1/chat/completions",
                headers={**AUTH, "connection": "close"},
                json={"model": "demo", "messages": [{"role": "user", "content": f"hi {i}"}]},
            )
            assert r.status_code == 200

        await asyncio.gather(*(one(start + i) for i in range(BURST)))


def served_chats(tmp_path: Path) -> list[float]:
    """Each worker's chat calls in its latest metrics snapshot (one file per worker, written every second)."""
    return [
        total_of(decode(p.read_bytes()).families, "http_requests_total", route="/v1/chat/completions")
        for p in (tmp_path / "data-0").glob("metrics-*/*.json")
    ]


def total_of(families: list[Metric], name: str, **labels: str) -> float:
    return sum(
        s.value
        for f in families
        for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_two_workers_count_every_request_once(serve: ServeFactory, tmp_path: Path) -> None:
    served = serve(workers=2)
    sent = 0
    deadline = time.monotonic() + START_LIMIT_S
    while not (len(chats := served_chats(tmp_path)) == 2 and all(chats)) and time.monotonic() < deadline:
        asyncio.run(_burst(served.url, sent))
        sent += BURST
    assert len(chats) == 2 and all(chats), chats  # both workers served
    # Whichever worker answers a scrape counts its own calls live and the other's from its snapshot: once that
    # snapshot is written, every call is counted once (never twice: the scrape would never show `sent`).
    scrapes = 0
    deadline = time.monotonic() + 30 * SNAPSHOT_INTERVAL_S
    while True:
        text = httpx.get(served.url + "/metrics", headers={"connection": "close"}, timeout=30).text
        scrapes += 1
        counted = total(text, "http_requests_total", route="/v1/chat/completions", status="200")
        if counted == sent and total(text, "llm_requests_total", provider="demo", status="ok") == sent:
            break
        assert time.monotonic() < deadline, (counted, sent)
        time.sleep(SNAPSHOT_INTERVAL_S / 10)
    # a scrape is counted once its response started: never itself (the other worker's may not be written yet)
    assert 1 <= total(text, "http_requests_total", route="/metrics") + 1 <= scrapes
    assert total(text, "http_requests_total", route="/health") >= 1  # the start-up probe
    assert total(text, "llm_tokens_total", provider="demo", type="input") > 0
    assert total(text, "ledger_queue_depth") >= 0
    assert text.count("# TYPE http_requests_total counter") == 1
    metrics_dir = next((tmp_path / "data-0").glob("metrics-*"))
    served.stop()
    assert not metrics_dir.exists()  # removed at exit
    assert "ONEFLOW_WORKER_METRICS_DIR" not in os.environ
