"""Issue 15, must-have 5: stages given to `create_app` work through the real app over HTTP, each call recorded once.

A stand-in cache (a `Responder` answering every call) serves without the upstream, as a reply and as a stream;
an output guard (a `StreamInspector` holding back one chunk, and a `ReplyInspector`) upper-cases the answer; a
rewriter redacts the request before the upstream sees it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from oneflow_ai.app import create_app
from oneflow_ai.errors import PermissionDenied
from oneflow_ai.gateway.call import Call, JSONReply
from oneflow_ai.gateway.stages import Answer, Ready, Stages
from oneflow_ai.providers.base import Usage
from oneflow_ai.settings import Settings
from tests.api.ledger_rows import ledger_rows
from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes import openai_upstream as fake
from tests.fakes.runner import UvicornServer

CACHED = "An answer from the cache."


class Cache:
    """Answers every call: a cache that always hits."""

    def answer(self, call: Call) -> Awaitable[Answer | None]:
        completion = {
            "id": "chatcmpl-cached",
            "object": "chat.completion",
            "created": 1700000000,
            "model": call.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": CACHED}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
        }
        return Ready(Answer(orjson.dumps(completion), "cache", Usage(5, 6), call.model))


class Shout:
    """Upper-cases the answer: each content delta of a stream (one chunk held back at a time), or the reply."""

    def open(self, call: Call) -> ShoutWatch:
        return ShoutWatch()

    def inspect(self, call: Call, reply: JSONReply) -> JSONReply:
        body = orjson.loads(reply.body)
        for choice in body["choices"]:
            choice["message"]["content"] = choice["message"]["content"].upper()
        return JSONReply(orjson.dumps(body), reply.headers, reply.status, reply.wire)


class ShoutWatch:
    def __init__(self) -> None:
        self.held: list[dict[str, Any]] = []

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                delta["content"] = delta["content"].upper()
        out, self.held = self.held, [chunk]  # a window of one chunk
        return out

    def finish(self) -> list[dict[str, Any]]:
        out, self.held = self.held, []
        return out


class Stop:
    """Ends every stream at its first content delta (an output guard that refuses what it reads)."""

    def open(self, call: Call) -> Stop:
        return self

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or ()):
            raise PermissionDenied("The answer was stopped by an output guard.", code="output_refused")
        return [chunk]

    def finish(self) -> list[dict[str, Any]]:
        return []


class Redact:
    def rewrite(self, call: Call) -> None:
        messages = [
            {**m, "content": str(m.get("content", "")).replace("hunter2", "[redacted]")} for m in call.body["messages"]
        ]
        call.body = {**call.body, "messages": messages}


@pytest.fixture
def gateway(openai_upstream: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(the gateway's URL, its database URL), started with the stages the test names (`cache` or `shout`)."""
    _, upstream = openai_upstream
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
models:
  - name: mini
    deployments:
      - provider: openai
        model: gpt-4o-mini
        base_url: {upstream.url}/v1
        api_key: env:UPSTREAM_KEY
"""
    )
    database_url = f"sqlite:///{tmp_path / 'oneflow.db'}"
    settings = Settings(
        config_path=str(config),
        data_dir=tmp_path / "data",
        master_key=MASTER_KEY,
        database_url=database_url,
        ledger_interval_s=0.05,
    )
    shout = Shout()
    stages = {
        "cache": Stages(responders=(Cache(),)),
        "shout": Stages(rewriters=(Redact(),), reply_inspectors=(shout,), stream_inspectors=(shout,)),
        "stop": Stages(stream_inspectors=(Stop(),)),
    }[request.param]
    server = UvicornServer(lambda: create_app(settings, {"UPSTREAM_KEY": UPSTREAM_KEY}, stages=stages))
    try:
        yield server.url, database_url
    finally:
        server.stop()


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=MASTER_KEY, base_url=url + "/v1", max_retries=0)


MESSAGES: Any = [{"role": "user", "content": "my password is hunter2"}]


@pytest.mark.parametrize("gateway", ["cache"], indirect=True)
def test_a_stage_answers_a_call_without_the_upstream(gateway: tuple[str, str], openai_upstream: Any) -> None:
    url, database_url = gateway
    upstream = openai_upstream[0]
    before = len(upstream.received)
    raw = client(url).chat.completions.with_raw_response.create(model="mini", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == CACHED
    assert raw.headers["x-oneflow-provider"] == "cache"
    with client(url).chat.completions.with_streaming_response.create(
        model="mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as streamed:
        stream_id = streamed.headers["x-request-id"]
        chunks = list(streamed.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == CACHED
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert len(upstream.received) == before  # no upstream call
    ids = [raw.headers["x-request-id"], stream_id]
    rows = ledger_rows(database_url, ids)
    assert sorted(r["request_id"] for r in rows) == sorted(ids)  # each exactly once
    for row in rows:
        assert (row["status"], row["http_status"], row["provider"], row["deployment_id"]) == ("ok", 200, "cache", None)
        assert (row["attempts"], row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (0, 5, 6, 0)
    assert {r["streamed"] for r in rows} == {True, False}


@pytest.mark.parametrize("gateway", ["shout"], indirect=True)
def test_stages_rewrite_the_request_and_guard_the_output(gateway: tuple[str, str], openai_upstream: Any) -> None:
    url, database_url = gateway
    upstream = openai_upstream[0]
    raw = client(url).chat.completions.with_raw_response.create(model="mini", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == fake.REPLY.upper()
    assert upstream.received[-1]["body"]["messages"][0]["content"] == "my password is [redacted]"
    with client(url).chat.completions.with_streaming_response.create(
        model="mini", messages=MESSAGES, stream=True
    ) as streamed:
        stream_id = streamed.headers["x-request-id"]
        chunks = list(streamed.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == fake.REPLY.upper()
    assert chunks[-1].choices[0].finish_reason == "stop"  # the held-back chunk came out at the end
    assert upstream.received[-1]["body"]["messages"][0]["content"] == "my password is [redacted]"
    ids = [raw.headers["x-request-id"], stream_id]
    rows = ledger_rows(database_url, ids)
    assert sorted(r["request_id"] for r in rows) == sorted(ids)  # each exactly once
    for row in rows:
        assert (row["status"], row["provider"], row["output_tokens"]) == ("ok", "openai", fake.COMPLETION_TOKENS)


@pytest.mark.parametrize("gateway", ["stop"], indirect=True)
def test_an_output_guard_ends_a_stream_with_its_error(gateway: tuple[str, str]) -> None:
    url, database_url = gateway
    body = {"model": "mini", "messages": MESSAGES, "stream": True}
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.stream("POST", url + "/v1/chat/completions", headers=auth, json=body, timeout=30) as r:
        request_id = r.headers["x-request-id"]
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert orjson.loads(events[-1])["error"]["code"] == "output_refused"
    assert not any((c.get("delta") or {}).get("content") for e in events[:-1] for c in orjson.loads(e)["choices"])
    [row] = ledger_rows(database_url, [request_id])
    assert (row["status"], row["http_status"], row["provider"]) == ("rejected", 403, "openai")
