"""Issue 4 acceptance: stopping the gateway while requests are in flight loses no ledger record.

The write-behind interval is set far beyond the test, so every record reaches the database only through the
flush that lifespan shutdown does (`ledger.close()`), after uvicorn let the in-flight requests finish.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx

from oneflow_ai.app import create_app
from oneflow_ai.settings import Settings
from tests.billing.conftest import config, ledger_for
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.runner import UvicornServer

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
N = 200


def upstream_saw(upstream: Any, tag: str) -> int:
    return sum(1 for r in list(upstream.received) if r["body"].get("user") == tag)


async def fire_and_stop(server: UvicornServer, upstream: Any, tag: str) -> tuple[list[Any], int]:
    """Send N requests; once the upstream holds at least half of them, stop the server."""

    async def one(client: httpx.AsyncClient, i: int) -> httpx.Response:
        body: dict[str, Any] = {
            "model": "mini",
            "user": tag,
            "messages": [{"role": "user", "content": "hi"}],
            "fake_delay_s": 0.2 + (i % 10) / 10,
        }
        if i % 4 == 0:
            body["stream"] = True
            async with client.stream("POST", "/v1/chat/completions", json=body) as r:
                await r.aread()
                return r
        return await client.post("/v1/chat/completions", json=body)

    limits = httpx.Limits(max_connections=None)
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30, limits=limits) as client:
        tasks = [asyncio.ensure_future(one(client, i)) for i in range(N)]
        for _ in range(1000):
            if upstream_saw(upstream, tag) >= N // 2:
                break
            await asyncio.sleep(0.01)
        in_flight = upstream_saw(upstream, tag)
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(stopping.join)
    return results, in_flight


def test_stopping_under_load_loses_no_record(openai_upstream: Any, database_url: str, tmp_path: Path, tag: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config(openai_upstream[1].url))
    settings = Settings(
        config_path=str(path),
        data_dir=tmp_path / "data",
        master_key=MASTER_KEY,
        database_url=database_url,
        ledger_interval_s=3600,
        ledger_batch_size=100_000,
    )
    server = UvicornServer(lambda: create_app(settings, {"UPSTREAM_KEY": UPSTREAM_KEY}))
    try:
        results, in_flight = asyncio.run(fire_and_stop(server, openai_upstream[0], tag))
    finally:
        server.stop()
    answered = [r for r in results if isinstance(r, httpx.Response)]
    assert not server.thread.is_alive()
    # the calls the upstream held when the server was told to stop were all answered (the rest may be refused)
    assert len(answered) >= in_flight >= N // 2 and all(r.status_code == 200 for r in answered)
    ids = {r.headers["x-request-id"] for r in answered}
    rows = ledger_for(database_url, tag, expect=len(ids), wait_s=0)
    assert ids <= {r["request_id"] for r in rows}  # every answered request has its record
    assert len(rows) == len({r["request_id"] for r in rows})
