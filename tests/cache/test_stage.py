"""The `ResponseCache` stage without HTTP: the semantic seam (a `SemanticIndex` it consults after an exact miss
and fills after a kept answer), scoping of what an index hands back, the key and end-user scopes, and how a
streamed answer is assembled into the completion it keeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from oneflow_ai.auth.principal import Principal
from oneflow_ai.cache.assemble import Assembler
from oneflow_ai.cache.memory_store import MemoryStore
from oneflow_ai.cache.policy import Policies
from oneflow_ai.cache.stage import ResponseCache
from oneflow_ai.config.schema import GatewayConfig
from oneflow_ai.gateway.call import Call, JSONReply, chat_call
from oneflow_ai.store.ledger import UsageRecord

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Four."}, "finish_reason": "stop"}],
}


def config(cache: dict[str, Any]) -> GatewayConfig:
    deployment = {"provider": "openai", "model": "gpt", "base_url": "http://127.0.0.1:1/v1"}
    return GatewayConfig.model_validate({"cache": cache, "models": [{"name": "m", "deployments": [deployment]}]})


class Index:
    """A semantic index that answers what the test tells it, and remembers what it was given."""

    def __init__(self) -> None:
        self.answer: tuple[str, float] | None = None
        self.added: list[tuple[str, str, str, str, str]] = []
        self.looked: list[tuple[str, str, str, str]] = []

    async def lookup(self, scope: str, model: str, rest_key: str, text: str, principal: Any = None) -> Any:
        self.looked.append((scope, model, rest_key, text))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def add(
        self, scope: str, model: str, rest_key: str, text: str, entry_key: str, principal: Any = None
    ) -> None:
        self.added.append((scope, model, rest_key, text, entry_key))

    async def clear(self, scope: str | None, model: str | None) -> None:
        return None


class Counts:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def cache_hit(self, kind: str) -> None:
        self.seen.append(("hit", kind))

    def cache_miss(self, kind: str) -> None:
        self.seen.append(("miss", kind))


def call(n: int, text: str, tenant: str = "t1", key: str = "k1", user: str | None = None) -> Call:
    body = {"model": "m", "messages": [{"role": "user", "content": text}], **({"user": user} if user else {})}
    return chat_call(f"req{n}", Principal(key, tenant_id=tenant), body, None)


def record(c: Call, status: str = "ok") -> UsageRecord:
    return UsageRecord(
        c.request_id, datetime.now(UTC), "chat", c.model, status, 200, Decimal("0.002"), Decimal(0), "upstream",
        input_tokens=10, output_tokens=3,
    )  # fmt: skip


async def served(cache: ResponseCache, c: Call) -> Any:
    """What the pipeline does around the upstream: ask the cache, and on a miss hand it the reply and record."""
    answer = await cache.answer(c)
    if answer is None and c.response_headers.get("x-oneflow-cache") == "miss":
        cache.inspect(c, JSONReply(orjson.dumps(COMPLETION), {}))
        cache.recorded(c, record(c))
        await cache.settled()
    return answer


def test_an_exact_miss_asks_the_index_and_its_entry_answers_as_a_semantic_hit() -> None:
    index, counts = Index(), Counts()
    cache = ResponseCache(MemoryStore(10**6), Policies(config({"mode": "semantic"})), {"local": index}, counts)

    async def go() -> None:
        first = call(1, "What is 2+2?")
        assert await served(cache, first) is None
        assert counts.seen == [("miss", "semantic")]  # one miss: the exact lookup's is not counted twice
        [(scope, model, rest, text, entry_key)] = index.added
        assert (scope, model, text) == ("t1", "m", "What is 2+2?") and entry_key.startswith("t1:")
        index.answer = (entry_key, 0.9612)
        second = call(2, "what's two plus two")
        hit = await served(cache, second)
        assert hit is not None and hit.cache_kind == "semantic" and orjson.loads(hit.body) == COMPLETION
        assert (hit.saved_usd, hit.usage and hit.usage.prompt_tokens) == (Decimal("0.002"), 10)
        assert second.response_headers == {"x-oneflow-cache": "hit", "x-oneflow-cache-similarity": "0.9612"}
        assert index.looked[-1][2] == rest  # the same rest of the request
        assert counts.seen[-1] == ("hit", "semantic")
        again = await served(cache, call(3, "What is 2+2?"))
        assert again is not None and again.cache_kind == "exact"  # the exact lookup comes first
        # an index that fails is a miss, not a failed call
        index.answer = RuntimeError("the embeddings model is down")  # type: ignore[assignment]
        failing = call(5, "what's two plus two")
        assert await cache.answer(failing) is None and failing.response_headers["x-oneflow-cache"] == "miss"
        index.answer = (entry_key, 0.9612)
        # an entry of another tenant named by the index is never served
        other = call(4, "what's two plus two", tenant="t2")
        assert await served(cache, other) is None and other.response_headers["x-oneflow-cache"] == "miss"

    asyncio.run(go())


def test_a_failed_call_or_an_unfinished_stream_keeps_nothing() -> None:
    cache = ResponseCache(MemoryStore(10**6), Policies(config({"mode": "exact"})))

    async def go() -> None:
        failed = call(1, "q")
        assert await cache.answer(failed) is None
        cache.recorded(failed, record(failed, status="upstream_error"))
        streamed = call(2, "q")
        await cache.answer(streamed)
        watch = cache.open(streamed)
        assert watch is not None
        watch.feed({"id": "x", "choices": [{"index": 0, "delta": {"content": "Fo"}, "finish_reason": None}]})
        watch.finish()  # no finish reason: cut off
        cache.recorded(streamed, record(streamed))
        assert len(cache.store) == 0  # type: ignore[arg-type]

    asyncio.run(go())


def test_key_and_end_user_scopes_narrow_the_tenant() -> None:
    async def hit(scope: str, first: Call, second: Call) -> bool:
        cache = ResponseCache(MemoryStore(10**6), Policies(config({"mode": "exact", "scope": scope})))
        await served(cache, first)
        return await cache.answer(second) is not None

    assert asyncio.run(hit("tenant", call(1, "q", key="a"), call(2, "q", key="b")))
    assert not asyncio.run(hit("key", call(1, "q", key="a"), call(2, "q", key="b")))
    assert asyncio.run(hit("key", call(1, "q", key="a"), call(2, "q", key="a")))
    assert not asyncio.run(hit("end_user", call(1, "q", user="u1"), call(2, "q", user="u2")))
    assert asyncio.run(hit("end_user", call(1, "q", user="u1", key="a"), call(2, "q", user="u1", key="b")))


def test_chunks_assemble_into_the_completion_they_stand_for() -> None:
    a = Assembler()
    head = {"id": "c1", "created": 5, "model": "gpt", "object": "chat.completion.chunk"}
    for choices in (
        [{"index": 0, "delta": {"role": "assistant", "content": "He"}}, {"index": 1, "delta": {"content": "Yo"}}],
        [{"index": 0, "delta": {"content": "llo"}, "finish_reason": "stop"}],
        [{"index": 1, "delta": {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{"}}]}}],
        [
            {
                "index": 1,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
                "finish_reason": "tool_calls",
            }
        ],
    ):
        a.feed({**head, "choices": choices})
    a.feed({**head, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})
    done = a.completion()
    assert done is not None and done["id"] == "c1" and done["usage"]["total_tokens"] == 3
    first, second = done["choices"]
    assert (first["message"]["content"], first["finish_reason"]) == ("Hello", "stop")
    assert second["message"]["content"] == "Yo" and second["finish_reason"] == "tool_calls"
    assert second["message"]["tool_calls"] == [
        {"type": "function", "id": "t", "function": {"name": "f", "arguments": "{}"}}
    ]
    broken = Assembler()
    broken.feed({**head, "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}]})
    broken.feed({"error": {"message": "upstream failed"}})
    assert broken.completion() is None
