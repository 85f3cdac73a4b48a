"""Issue 14: a call still running when the shutdown's grace (`ONEFLOW_SHUTDOWN_GRACE_S`) runs out is cut by the
gateway itself: answered 503 `shutting_down` as OpenAI error JSON with its `x-request-id` (a stream that had
started ends with a `shutting_down` error event) and recorded as `cut`; on a real `oneflow serve` process
stopped with SIGTERM."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.billing.conftest import config, ledger_for
from tests.conftest import MASTER_KEY
from tests.fakes.subprocess_gateway import SubprocessGateways

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def chat(url: str, tag: str, **body: Any) -> httpx.Response:
    message = {"model": "mini", "user": tag, "messages": [{"role": "user", "content": "hi"}], **body}
    return httpx.post(url + "/v1/chat/completions", headers=AUTH, json=message, timeout=20)


def stream(url: str, tag: str) -> tuple[httpx.Response, bytes]:
    body = {"model": "mini", "user": tag, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    received = b""
    with httpx.stream("POST", url + "/v1/chat/completions", headers=AUTH, json={**body, "fake_slow_stream": True}) as r:
        for chunk in r.iter_bytes():
            received += chunk
    return r, received


def test_calls_still_running_when_the_grace_runs_out_are_cut_answered_and_recorded(
    openai_upstream: Any, tmp_path: Path, tag: str
) -> None:
    upstream, server = openai_upstream
    gateways = SubprocessGateways(tmp_path)
    dep = f"provider: openai, base_url: '{server.url}/v1', api_key: env:UPSTREAM_KEY, model: fake-429"
    limited = f"  - {{name: limited, deployments: [{{{dep}}}]}}\n"
    yaml = config(server.url, routing="routing: {max_attempts: 2}\n").replace("routing:", limited + "routing:", 1)
    served = gateways.start(config_yaml=yaml, env={"ONEFLOW_SHUTDOWN_GRACE_S": "2"})
    try:
        with ThreadPoolExecutor(3) as pool:
            plain = pool.submit(chat, served.url, tag, fake_delay_s=60)  # still upstream when the grace ends
            streamed = pool.submit(stream, served.url, tag)  # streams for 10 s
            waiting = pool.submit(chat, served.url, tag, model="limited", fake_retry_after=60)  # waits to retry
            deadline = time.monotonic() + 20
            while sum(1 for r in list(upstream.received) if r["body"].get("user") == tag) < 3:
                assert time.monotonic() < deadline, "the upstream did not receive the three calls"
                time.sleep(0.02)
            served.process.send_signal(signal.SIGTERM)
            answer = plain.result()
            started, received = streamed.result()
            backing_off = waiting.result()
        assert served.process.wait(20) in (0, -signal.SIGTERM)  # uvicorn raises the signal again once it stopped
    finally:
        gateways.stop_all()

    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == "shutting_down"
    assert started.status_code == 200 and received.startswith(b"data: ") and b"[DONE]" not in received
    last = json.loads(received.rstrip(b"\n").rsplit(b"\n\n", 1)[-1].removeprefix(b"data: "))
    assert last["error"]["code"] == "shutting_down"  # the stream ends with an error event, not broken off
    assert backing_off.status_code == 503 and backing_off.json()["error"]["code"] == "shutting_down"
    ids = {answer.headers["x-request-id"], started.headers["x-request-id"], backing_off.headers["x-request-id"]}
    rows = ledger_for(f"sqlite:///{tmp_path / 'data-0' / 'oneflow.db'}", tag, expect=3, wait_s=0)
    assert {r["request_id"] for r in rows} == ids
    assert sorted((r["status"], r["http_status"], r["streamed"], r["attempts"]) for r in rows) == [
        ("cut", 503, False, 1),
        ("cut", 503, False, 1),
        ("cut", 503, True, 1),
    ]
    stream_row = next(r for r in rows if r["streamed"])
    assert stream_row["output_tokens"] > 0 and stream_row["cost_usd"] > 0  # what it produced is still charged
