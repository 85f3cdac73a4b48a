"""`ResilientHTTPClient` against a real local HTTP server that fails on cue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from oneflow_ai import ResilientHTTPClient
from oneflow_ai.errors import (
    ContextWindowExceeded,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from oneflow_ai.routing import BreakerPolicy, BreakerState
from tests.fakes.runner import free_port


class Flaky:
    """Answers `script` in order (then 200s): an int is that status, "hang" never answers."""

    def __init__(self, *script: int | str) -> None:
        self.script = list(script)
        self.keys: list[str | None] = []
        self.bodies: list[Any] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.keys.append(request.headers.get("Idempotency-Key"))
        self.bodies.append(await request.json())
        step = self.script.pop(0) if self.script else 200
        if step == "hang":
            await asyncio.sleep(60)
        if step == 200:
            return web.json_response({"ok": True, "n": len(self.keys)})
        if step == "context":
            error = {"message": "maximum context length", "code": "context_length_exceeded"}
            return web.json_response({"error": error}, status=400)
        headers = {"retry-after": "0.05"} if step == 429 else {}
        return web.json_response(
            {"error": {"message": f"failure {step}", "type": "x"}}, status=int(step), headers=headers
        )


@pytest.fixture
async def server() -> AsyncIterator[tuple[Flaky, str]]:
    flaky = Flaky()
    app = web.Application()
    app.router.add_post("/v1/things", flaky.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield flaky, f"http://127.0.0.1:{port}/v1/things"
    await runner.cleanup()


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client(sleep: Sleeps | None = None, **kw: Any) -> ResilientHTTPClient:
    options: dict[str, Any] = {"timeout": 2.0, "max_retries": 3, "backoff_base_s": 0.01, **kw}
    return ResilientHTTPClient(provider_name="test", sleep=sleep or Sleeps(), **options)


async def test_retries_server_errors_with_one_idempotency_key(server: tuple[Flaky, str]) -> None:
    flaky, url = server
    flaky.script = [500, 502, 503]
    sleeps = Sleeps()
    async with client(sleeps) as c:
        r = await c.post(url, json={"a": 1}, headers={"x-trace": "t"}, idempotency_key="req-unique-id")
    assert r.status == 200 and r.json() == {"ok": True, "n": 4} and r.attempts == 4
    assert flaky.keys == ["req-unique-id"] * 4 and flaky.bodies == [{"a": 1}] * 4
    assert len(sleeps.delays) == 3 and all(0 <= d < 0.01 * 2**i for i, d in enumerate(sleeps.delays))


async def test_a_key_is_generated_when_none_is_given(server: tuple[Flaky, str]) -> None:
    flaky, url = server
    flaky.script = [500]
    async with client() as c:
        await c.post(url, json={})
        await c.post(url, json={})
    first, retry, other = flaky.keys
    assert first and first == retry and other != first


async def test_retry_after_is_honoured(server: tuple[Flaky, str]) -> None:
    flaky, url = server
    flaky.script = [429]
    sleeps = Sleeps()
    async with client(sleeps) as c:
        assert (await c.post(url, json={})).attempts == 2
    assert sleeps.delays == [0.05]


async def test_a_client_error_is_not_retried(server: tuple[Flaky, str]) -> None:
    flaky, url = server
    flaky.script = [400, "context"]
    async with client() as c:
        with pytest.raises(UpstreamRejected) as info:
            await c.post(url, json={})
        assert info.value.status == 400 and "failure 400" in info.value.message
        with pytest.raises(ContextWindowExceeded):
            await c.post(url, json={})
        assert c.breaker.state is BreakerState.CLOSED  # the caller's fault, not the upstream's
    assert len(flaky.keys) == 2


async def test_gives_up_after_max_retries_with_the_last_error(server: tuple[Flaky, str]) -> None:
    flaky, url = server
    flaky.script = [500] * 10
    async with client(max_retries=2) as c:
        with pytest.raises(UpstreamError) as info:
            await c.post(url, json={})
    assert info.value.upstream_status == 500 and len(flaky.keys) == 3


async def test_the_breaker_opens_and_then_refuses_at_once(server: tuple[Flaky, str]) -> None:
    flaky, url = server
    flaky.script = [500] * 10
    policy = BreakerPolicy(min_requests=3, cooldown_s=60)
    async with client(max_retries=5, breaker=policy) as c:
        with pytest.raises(UpstreamUnavailable) as info:
            await c.post(url, json={})
        assert info.value.code == "circuit_open" and "failure 500" in info.value.message
        assert c.breaker.state is BreakerState.OPEN and len(flaky.keys) == 3
        with pytest.raises(UpstreamUnavailable):
            await c.post(url, json={})
        assert len(flaky.keys) == 3
        assert info.value.retry_after is not None and 59 < info.value.retry_after <= 60


async def test_a_refused_connection_is_typed() -> None:
    async with client(max_retries=1) as c:
        with pytest.raises(UpstreamUnavailable):
            await c.post(f"http://127.0.0.1:{free_port()}/x", json={})


async def test_a_hanging_upstream_times_out(server: tuple[Flaky, str]) -> None:
    flaky, url = server
    flaky.script = ["hang"]
    async with ResilientHTTPClient("test", timeout=0.2, max_retries=1, sleep=Sleeps()) as c:
        r = await c.post(url, json={})
    assert r.attempts == 2
    flaky.script = ["hang", "hang"]
    async with ResilientHTTPClient("test", timeout=0.2, max_retries=1, sleep=Sleeps()) as c:
        with pytest.raises(UpstreamTimeout):
            await c.post(url, json={})


async def test_a_refused_key_is_not_retried_and_counts_on_the_breaker(server: tuple[Flaky, str]) -> None:
    flaky, url = server
    flaky.script = [401, 403, 401]
    async with client(breaker=BreakerPolicy(consecutive_failures=3, cooldown_s=60)) as c:
        for _ in range(3):
            with pytest.raises(UpstreamAuthFailed) as info:
                await c.post(url, json={})
            assert info.value.status == 502 and "failure" not in info.value.message
        assert c.breaker.state is BreakerState.OPEN  # the upstream's fault: three in a row open it
    assert len(flaky.keys) == 3  # each tried once: no retry of the same upstream can fix a refused key
