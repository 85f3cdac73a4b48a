"""Micro-benchmark of what observability adds to one request: `python -m tests.observability.bench_overhead`.

Times, per request, in one process: the edge (request id, security headers, HTTP metrics) around a trivial
ASGI app (versus the bare app), the idempotency middleware without the header, the LLM metrics observer (one
attempt and one record), and the request log line (formatted as JSON, written to memory).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from oneflow_ai.api.edge import Edge
from oneflow_ai.api.idempotency import Idempotency
from oneflow_ai.api.operations import OPERATIONS, idempotent_paths
from oneflow_ai.auth.principal import MASTER
from oneflow_ai.config.schema import Deployment
from oneflow_ai.gateway.call import Call
from oneflow_ai.logs import JSONFormatter
from oneflow_ai.observability.llm_metrics import LLMMetrics
from oneflow_ai.observability.metrics import Metrics
from oneflow_ai.observability.request_log import RequestLog
from oneflow_ai.store.ledger import UsageRecord

N = 50_000


class Route:
    path_format = "/v1/chat/completions"


async def app(scope: Any, receive: Any, send: Any) -> None:
    scope["route"] = Route
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def per_request(asgi: Callable[..., Awaitable[None]], state: dict[str, Any]) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        pass

    headers = [(b"authorization", b"Bearer x"), (b"content-type", b"application/json")]
    started = time.perf_counter()
    for _ in range(N):
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "headers": headers,
            "state": dict(state),
        }
        await asgi(scope, receive, send)
    return (time.perf_counter() - started) / N * 1e6


def sync_per_call(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    for _ in range(N):
        fn()
    return (time.perf_counter() - started) / N * 1e6


async def main() -> None:
    gateway = SimpleNamespace(
        ledger=SimpleNamespace(depth=0),
        routing=SimpleNamespace(breakers=SimpleNamespace(view=dict)),
    )
    metrics = Metrics()
    metrics.gateway = gateway  # type: ignore[assignment]
    state = {"metrics": metrics}
    bare = await per_request(app, state)
    with_metrics = await per_request(Edge(app, max_body_bytes=1 << 20), state)
    with_idempotency = await per_request(Idempotency(app, idempotent_paths(OPERATIONS)), state)
    print(f"bare ASGI app                         {bare:6.2f} us/request")
    print(f"+ edge (ids, headers, HTTP metrics)   {with_metrics - bare:6.2f} us/request")
    print(f"+ idempotency middleware (no header)  {with_idempotency - bare:6.2f} us/request")

    dep = Deployment(provider="openai", model="gpt-4o-mini", id="mini/0")
    observer = LLMMetrics(metrics, {dep.id: dep})
    call = Call("req_1", MASTER, "chat", {}, "mini")
    record = UsageRecord(
        "req_1",
        datetime.now(UTC),
        "chat",
        "mini",
        "ok",
        200,
        Decimal("0.0001"),
        Decimal("0.01"),
        "upstream",
        key_id="master",
        provider="openai",
        deployment_id=dep.id,
        input_tokens=11,
        output_tokens=7,
        cached_tokens=3,
        latency_ms=120.0,
        ttft_ms=40.0,
    )

    def observe() -> None:
        observer.attempt_finished(call, dep, None, 0.1, None)
        observer.recorded(call, record)

    print(f"LLM metrics observer (attempt+record) {sync_per_call(observe):6.2f} us/request")
    logger = logging.getLogger("bench.request")
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JSONFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    log = RequestLog(logger)
    print(f"request log line (JSON)               {sync_per_call(lambda: log.recorded(call, record)):6.2f} us/request")


if __name__ == "__main__":
    asyncio.run(main())
