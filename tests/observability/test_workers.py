"""`oneflow serve --workers 2`: every request is counted exactly once in `/metrics`, whichever worker answers
the request and whichever answers the scrape."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.observability.conftest import AUTH, ServeFactory, total

N = 40


def test_two_workers_count_every_request_once(serve: ServeFactory, tmp_path: Path) -> None:
    served = serve(workers=2)
    with httpx.Client(base_url=served.url) as client:  # one connection per request, so both workers serve
        for i in range(N):
            r = client.post(
                "/v1/chat/completions",
                headers={**AUTH, "connection": "close"},
                json={"model": "demo", "messages": [{"role": "user", "content": f"hi {i}"}]},
            )
            assert r.status_code == 200
    pids = {p.name for p in (tmp_path / "data-0").glob("metrics-*/counter_*.db")}
    assert len(pids) == 2, pids  # both workers served (and wrote their own files)
    scrapes = 3
    for _ in range(scrapes):
        text = httpx.get(served.url + "/metrics", headers={"connection": "close"}).text
    # the last scrape counts the earlier ones, and not itself (it is counted once its response started)
    assert total(text, "http_requests_total", route="/v1/chat/completions", status="200") == N
    assert total(text, "http_requests_total", route="/metrics") == scrapes - 1
    assert total(text, "http_requests_total", route="/health") >= 1  # the start-up probe
    assert total(text, "llm_requests_total", provider="demo", status="ok") == N
    assert total(text, "llm_tokens_total", provider="demo", type="input") > 0
    assert total(text, "ledger_queue_depth") >= 0
    assert text.count("# TYPE http_requests_total counter") == 1
    metrics_dir = next((tmp_path / "data-0").glob("metrics-*"))
    served.stop()
    assert not metrics_dir.exists()  # removed at exit
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
