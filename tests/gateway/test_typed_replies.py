"""Issue 15 #2, typed replies and streams, through the real app over HTTP.

- A reply is parsed once: the provider's own parse of the upstream's answer is handed on to the reply, so that two
  reply inspectors reading `reply.json()` share one parse and nothing parses the body again.
- A stream is decoded by its provider's decoder: a provider registered for the test (OpenAI's, with the JSON lines
  decoder) relays an upstream that streams newline-delimited JSON, split mid-line, as OpenAI's SSE.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from oneflow_ai.app import create_app
from oneflow_ai.config.schema import Deployment
from oneflow_ai.gateway import call as call_module
from oneflow_ai.gateway.call import Call, JSONReply
from oneflow_ai.gateway.stages import Stages
from oneflow_ai.providers.openai import OpenAIProvider
from oneflow_ai.settings import Settings
from oneflow_ai.upstream.decoders import JSONLinesDecoder
from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.hooked_app import HookedApp
from tests.fakes.runner import AiohttpServer, UvicornServer

HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}
MESSAGES = [{"role": "user", "content": "hi"}]


def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    return orjson.dumps(
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices, **extra}
    )


NDJSON = b"".join(
    line + b"\n"
    for line in (
        chunk([{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]),
        chunk([{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]),
        chunk([], usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
    )
)
COMPLETION = {
    "id": "c2",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


async def chat(request: web.Request) -> web.StreamResponse:
    if not (await request.json()).get("stream"):
        return web.json_response(COMPLETION)
    response = web.StreamResponse(headers={"content-type": "application/x-ndjson"})
    await response.prepare(request)
    middle = NDJSON.index(b"\n") // 2
    for write in (NDJSON[:middle], NDJSON[middle:-5], NDJSON[-5:]):  # lines split between writes
        await response.write(write)
    await response.write_eof()
    return response


class JSONLinesOpenAI(OpenAIProvider):
    """A provider registered for the test: OpenAI's wire, streamed as JSON lines (as Ollama's native API does)."""

    def stream_decoder(self, deployment: Deployment) -> JSONLinesDecoder:
        return JSONLinesDecoder()


async def register_json_lines(state: dict[str, Any]) -> None:
    state["gateway"].providers["openai"] = JSONLinesOpenAI()


class Looks:
    """A reply inspector that reads the reply, and remembers what it read."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def inspect(self, call: Call, reply: JSONReply) -> JSONReply:
        self.seen.append(reply.json())
        return reply


@pytest.fixture
def upstream() -> Iterator[AiohttpServer]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    server = AiohttpServer(app)
    yield server
    server.stop()


def start(upstream: AiohttpServer, tmp_path: Path, stages: Stages) -> tuple[UvicornServer, str]:
    config = tmp_path / "config.yaml"
    dep = f"provider: openai, base_url: '{upstream.url}/v1', api_key: env:UPSTREAM_KEY, model: m"
    config.write_text(f"models:\n  - {{name: typed, deployments: [{{{dep}}}]}}\n")
    database_url = f"sqlite:///{tmp_path / 'oneflow.db'}"
    settings = Settings(
        config_path=str(config),
        data_dir=tmp_path / "data",
        master_key=MASTER_KEY,
        database_url=database_url,
        ledger_interval_s=0.05,
    )
    hooks = {"/_test/json-lines": register_json_lines}
    app = lambda: HookedApp(create_app(settings, {"UPSTREAM_KEY": UPSTREAM_KEY}, stages=stages), hooks)  # noqa: E731
    return UvicornServer(app), database_url


def test_a_reply_is_parsed_once(upstream: AiohttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[bytes] = []

    def loads(data: bytes) -> Any:
        parses.append(data)
        return orjson.loads(data)

    monkeypatch.setattr(call_module, "orjson", SimpleNamespace(loads=loads))
    first, second = Looks(), Looks()
    server, _ = start(upstream, tmp_path, Stages(reply_inspectors=(first, second)))
    try:
        body = {"model": "typed", "messages": MESSAGES}
        r = httpx.post(server.url + "/v1/chat/completions", headers=HEADERS, json=body, timeout=10)
    finally:
        server.stop()
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Hello"
    assert first.seen == [COMPLETION]
    assert second.seen[0] is first.seen[0]  # one parse, shared
    assert parses == []  # the provider's own parse (for the usage) was handed on: the reply parsed nothing


def test_a_reply_without_a_parse_parses_on_first_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[bytes] = []
    monkeypatch.setattr(call_module, "orjson", SimpleNamespace(loads=lambda d: parses.append(d) or orjson.loads(d)))
    reply = JSONReply(b'{"a": 1}', {})
    assert parses == []  # nothing parsed until someone looks
    assert reply.json() == {"a": 1}
    assert reply.json() is reply.json()
    assert parses == [b'{"a": 1}']


def test_a_json_lines_stream_is_relayed_as_sse(upstream: AiohttpServer, tmp_path: Path) -> None:
    server, database_url = start(upstream, tmp_path, Stages())
    try:
        assert httpx.post(server.url + "/_test/json-lines").status_code == 204
        body = {"model": "typed", "stream": True, "messages": MESSAGES, "stream_options": {"include_usage": True}}
        with httpx.stream("POST", server.url + "/v1/chat/completions", headers=HEADERS, json=body, timeout=10) as r:
            assert r.status_code == 200
            raw = r.read()
            request_id = r.headers["x-request-id"]
        rows = ledger_rows(database_url, [request_id])
    finally:
        server.stop()
    events = [event for event in raw.split(b"\n\n") if event]
    assert all(event.startswith(b"data: ") and b"\n" not in event for event in events), raw
    assert events[-1] == b"data: [DONE]"
    chunks = [orjson.loads(event[6:]) for event in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello"
    assert chunks[-1]["usage"]["completion_tokens"] == 2  # the upstream's usage line, as the client asked
    assert [(row["status"], row["usage_source"], row["input_tokens"], row["output_tokens"]) for row in rows] == [
        ("ok", "upstream", 3, 2)
    ]
