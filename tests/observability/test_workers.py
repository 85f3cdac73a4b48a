"""`oneflow serve --workers 2`: every request is counted exactly once in `/metrics`, whichever worker answers
the request and whichever answers the scrape."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx

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


def test_two_workers_count_every_request_once(serve: ServeFactory, tmp_path: Path) -> None:
    served = serve(workers=2)
    sent = 0
    pids: set[str] = set()
    deadline = time.monotonic() + START_LIMIT_S
    while len(pids) < 2 and time.monotonic() < deadline:
        asyncio.run(_burst(served.url, sent))
        sent += BURST
        pids = {p.name for p in (tmp_path / "data-0").glob("metrics-*/counter_*.db")}
    assert len(pids) == 2, pids  # both workers served (and wrote their own files)
    scrapes = 3
    for _ in range(scrapes):
        text = httpx.get(served.url + "/metrics", headers={"connection": "close"}, timeout=30).text
    # the last scrape counts the earlier ones, and not itself (it is counted once its response started)
    assert total(text, "http_requests_total", route="/v1/chat/completions", status="200") == sent
    assert total(text, "http_requests_total", route="/metrics") == scrapes - 1
    assert total(text, "http_requests_total", route="/health") >= 1  # the start-up probe
    assert total(text, "llm_requests_total", provider="demo", status="ok") == sent
    assert total(text, "llm_tokens_total", provider="demo", type="input") > 0
    assert total(text, "ledger_queue_depth") >= 0
    assert text.count("# TYPE http_requests_total counter") == 1
    metrics_dir = next((tmp_path / "data-0").glob("metrics-*"))
    served.stop()
    assert not metrics_dir.exists()  # removed at exit
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
