"""The gateway's own cost per request, without sockets: `.venv/bin/python -m bench.hot_path [--mode full-sqlite]`.

The ASGI application is driven in-process (no HTTP server, no HTTP client): each request is an ASGI call whose
upstream is a transport that answers with the benchmark's canned bodies after one turn of the event loop (as a
real upstream call would suspend). What is left is exactly the
gateway's own work per request (edge, auth, limits, budgets, routing, pricing, ledger, metrics, logs), in
microseconds of CPU, at a given concurrency. `--profile FILE` writes a cProfile dump of the measured part
(`python -m pstats FILE`); `--top N` prints its N most expensive functions.

This is a development tool beside the benchmark: the numbers that count are the end-to-end ones (`bench.run`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench import canned
from bench.gateway import CHAT_MODEL, STREAM_MODEL, UPSTREAM_KEY, oneflow_config
from bench.modes import GENEROUS_LIMITS, MASTER_KEY, modes
from bench.upstream import Upstream
from oneflow_ai.logs import BufferedHandler, JSONFormatter
from oneflow_ai.upstream.wire import UpstreamRequest


class CannedResponse:
    def __init__(self, body: bytes, chunks: list[bytes] | None) -> None:
        self.status = 200
        self.headers: Mapping[str, str] = {"content-type": "application/json"}
        self._body = body
        self._chunks = chunks

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks or [self._body]:
            yield chunk

    def close(self) -> None:
        return None


class CannedTransport:
    """Answers every request at once: the canned chat completion, stream or embeddings."""

    def __init__(self) -> None:
        self.chat = canned.chat_completion()
        self.embeddings = canned.embeddings()
        stream = canned.chat_stream()
        self.stream = [stream[i : i + 4096] for i in range(0, len(stream), 4096)]

    async def send(self, request: UpstreamRequest, *, stream: bool) -> CannedResponse:
        await asyncio.sleep(0)  # a real upstream call suspends: let the loop run what is due (as with real I/O)
        if stream:
            return CannedResponse(b"", self.stream)
        return CannedResponse(self.embeddings if request.url.endswith("/embeddings") else self.chat, None)


class Lifespan:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.create_task(self.app(scope, self._queue.get, self._sent.put))
        await self._queue.put({"type": "lifespan.startup"})
        message = await self._sent.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {message}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._queue.put({"type": "lifespan.shutdown"})
        await self._sent.get()
        assert self._task is not None
        await self._task


async def call(
    app: Any, state: dict[str, Any], method: str, path: str, body: bytes, key: str
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    headers = [
        (b"host", b"127.0.0.1:18000"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + key.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 18000),
        "state": dict(state),
    }
    sent = False
    out: list[bytes] = []
    status = 0
    response_headers: list[tuple[bytes, bytes]] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers = message.get("headers", [])
        else:
            out.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(out), response_headers


async def run(
    mode_name: str,
    extra: Mapping[str, str],
    requests: int,
    concurrency: int,
    stream: bool,
    profile: Path | None,
    top: int,
) -> None:
    from oneflow_ai.app import create_app

    mode = modes()[mode_name]
    work = Path(tempfile.mkdtemp(prefix="oneflow-hot-"))
    upstream = Upstream(server=None, port=18001)  # type: ignore[arg-type]
    config = work / "oneflow.yaml"
    config.write_text(yaml.safe_dump(oneflow_config(upstream, mode), sort_keys=False))
    if True:
        environ = {
            **os.environ,
            "ONEFLOW_MASTER_KEY": MASTER_KEY,
            "ONEFLOW_DATA_DIR": str(work / "data"),
            "ONEFLOW_CONFIG": str(config),
            "BENCH_UPSTREAM_KEY": UPSTREAM_KEY,
            **mode.env,
            **extra,
        }
        if "ONEFLOW_LOG_LEVEL" in mode.env:
            environ["ONEFLOW_LOG_FILE"] = str(work / "oneflow.log")
        app = create_app(environ=environ, freeze_heap=True)
        import logging

        handler = BufferedHandler((work / "oneflow.log").open("a"))
        handler.setFormatter(JSONFormatter())
        logging.getLogger("oneflow").handlers[:1] = [handler] if mode.env.get("ONEFLOW_LOG_LEVEL") else []
        async with Lifespan(app) as lifespan:
            state = lifespan.state
            gateway = state["gateway"]
            transport = CannedTransport()
            gateway.transports = {wire: transport for wire in gateway.transports}
            key = MASTER_KEY
            if mode.client_key.__name__ == "virtual_key":
                status, body, _ = await call(
                    app, state, "POST", "/api/v1/admin/api-keys", orjson.dumps({"name": "hot", **GENEROUS_LIMITS}), key
                )
                assert status == 201, body
                key = orjson.loads(body)["key"]
            request = canned.chat_request(STREAM_MODEL if stream else CHAT_MODEL, stream=stream)
            status, body, _ = await call(app, state, "POST", "/v1/chat/completions", request, key)
            assert status == 200, body

            async def worker(n: int) -> None:
                for _ in range(n):
                    s, b, _ = await call(app, state, "POST", "/v1/chat/completions", request, key)
                    if s != 200:
                        raise RuntimeError(f"{s}: {b[:300]!r}")

            await asyncio.gather(*(worker(200 // concurrency + 1) for _ in range(concurrency)))  # warm-up
            profiler = cProfile.Profile() if profile or top else None
            per = requests // concurrency
            started_cpu, started = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            await asyncio.gather(*(worker(per) for _ in range(concurrency)))
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
            await asyncio.sleep(0.5)  # the ledger's writer drains what the run left
            total = per * concurrency
            kind = "stream" if stream else "chat"
            print(
                f"mode {mode.name}, {kind}, {total} requests at concurrency {concurrency}: "
                f"{wall / total * 1e6:.1f} us wall, {cpu / total * 1e6:.1f} us CPU per request"
                + (" (under cProfile)" if profiler else "")
            )
            if profiler:
                if profile:
                    profiler.dump_stats(profile)
                if top:
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hot_path", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="bare", help="gateway mode: " + ", ".join(modes()))
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args(argv)
    import uvloop

    resources: AbstractContextManager[Mapping[str, str]] = modes()[args.mode].resources()
    with resources as extra:
        uvloop.run(run(args.mode, extra, args.requests, args.concurrency, args.stream, args.profile, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
