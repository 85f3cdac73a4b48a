"""The response cache as a stage of the pipeline (`ResponseCache`): it answers a call from the cache (a
`Responder`), keeps the answer of a call it could not (a `ReplyInspector` for a reply, a `StreamInspector` for a
stream) once the ledger recorded the call `ok` (an `Observer`: the record carries the call's cost and tokens,
kept with the entry, which each hit records as saved), and counts hits and misses.

A call is offered to the cache when its model's `mode` is not `off` and it is in OpenAI's chat format. It is a
`bypass` (not answered from the cache; `x-oneflow-cache: bypass`) when it asks `no-cache`, or when it samples
(`temperature` above 0) and neither its model nor the call allows that; a sampling call's answer is not kept
either. Otherwise the exact key is looked up, then (`mode: semantic`) the semantic index: a `hit` is answered
from the entry, a `miss` goes upstream and its answer is kept unless the call asked `no-store`. A stream is kept
only when it completed: the record says `ok` and every choice finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from oneflow_ai.cache.assemble import Assembler
from oneflow_ai.cache.directives import directives
from oneflow_ai.cache.entry import Entry, decode, encode
from oneflow_ai.cache.key import Address, last_user_text, model_tag, request_key, rest_key
from oneflow_ai.cache.policy import Policies, Policy, tenant_of
from oneflow_ai.cache.semantic_index import SemanticIndex
from oneflow_ai.cache.store import CacheStore, Stats
from oneflow_ai.gateway.call import Call, JSONReply
from oneflow_ai.gateway.stages import Answer, QuietObserver, Ready
from oneflow_ai.providers.base import Usage
from oneflow_ai.store.ledger import UsageRecord

log = logging.getLogger("oneflow.cache")

HEADER = "x-oneflow-cache"
SIMILARITY_HEADER = "x-oneflow-cache-similarity"
MAX_PENDING = 10_000
"""Calls whose answer is awaited for the cache at once; beyond, the oldest is forgotten (not cached)."""
NOTHING: Ready[Answer | None] = Ready(None)


class CacheCounts(Protocol):
    """Where hits and misses are counted by kind (`exact`, `semantic`): the metrics."""

    def cache_hit(self, kind: str) -> None: ...

    def cache_miss(self, kind: str) -> None: ...


class NoCounts:
    def cache_hit(self, kind: str) -> None:
        return None

    def cache_miss(self, kind: str) -> None:
        return None


@dataclass(slots=True)
class _Pending:
    """A call whose answer the cache keeps once it has both the answer and the call's record."""

    address: Address
    model: str
    ttl_s: int
    semantic: tuple[SemanticIndex, str, str] | None = None
    """(the index, the rest key, the text) to add the entry to, in semantic mode."""
    body: bytes | None = None
    completion: dict[str, Any] | None = None
    record: UsageRecord | None = None


class ResponseCache(QuietObserver):
    reads_native = False
    """Reads no native (`/v1/messages`) call: its presence keeps them passing through untranslated."""

    def __init__(
        self,
        store: CacheStore,
        policies: Policies,
        indexes: Mapping[str, SemanticIndex] | None = None,
        counts: CacheCounts | None = None,
    ) -> None:
        self.store = store
        self.policies = policies
        self.indexes = dict(indexes or {})
        """Semantic indexes by embedding model."""
        self.counts = counts or NoCounts()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    # Responder

    def answer(self, call: Call) -> Awaitable[Answer | None]:
        if call.endpoint != "chat" or call.native is not None:
            return NOTHING
        policy = self.policies.of(call.model)
        if policy.mode == "off":
            return NOTHING
        asks = directives(call.cache, call.cache_control)
        if policy.samples(call.body, asks):
            call.response_headers[HEADER] = "bypass"
            return NOTHING
        model = self.policies.names.get(call.model, call.model)
        narrow = policy.narrow(call.principal, call.end_user)
        address = Address(tenant_of(call.principal), self.policies.tag(model), request_key(call.body, model, narrow))
        semantic = self._semantic(call, policy, model, narrow) if policy.mode == "semantic" else None
        pending = None if asks.no_store else _Pending(address, model, asks.ttl_s or policy.ttl_s, semantic)
        if asks.no_cache:
            call.response_headers[HEADER] = "bypass"
            self._expect(call.request_id, pending)
            return NOTHING
        found = self.store.get(address, count_miss=semantic is None)
        if isinstance(found, Ready) and semantic is None:
            return Ready(self._exact(call, found.value, pending))
        return self._lookup(call, found, pending, address, semantic)

    def _exact(self, call: Call, data: bytes | None, pending: _Pending | None) -> Answer | None:
        entry = decode(data) if data is not None else None
        if entry is not None:
            return self._hit(call, entry, "exact")
        self.counts.cache_miss("exact")
        call.response_headers[HEADER] = "miss"
        self._expect(call.request_id, pending)
        return None

    async def _lookup(
        self,
        call: Call,
        found: Awaitable[bytes | None],
        pending: _Pending | None,
        address: Address,
        semantic: tuple[SemanticIndex, str, str] | None,
    ) -> Answer | None:
        data = await found
        entry = decode(data) if data is not None else None
        if entry is not None:
            return self._hit(call, entry, "exact")
        if semantic is None:
            return self._exact(call, None, pending)
        index, rest, text = semantic
        model = self.policies.names.get(call.model, call.model)
        try:
            near = await index.lookup(address.tenant, model, rest, text, call.principal)
        except Exception as e:  # semantic matching failing never fails the call: a miss
            log.warning("semantic cache lookup failed, served as a miss: %s", e)
            near = None
        if near is not None:
            named = Address.parse(near[0])
            if named is not None and named.tenant == tenant_of(call.principal) and named != address:
                data = await self.store.get(named, count_miss=False)
                entry = decode(data) if data is not None else None
                if entry is not None:
                    call.response_headers[SIMILARITY_HEADER] = f"{near[1]:.4f}"
                    return self._hit(call, entry, "semantic")
        await self.store.miss(tenant_of(call.principal))
        self.counts.cache_miss("semantic")
        call.response_headers[HEADER] = "miss"
        self._expect(call.request_id, pending)
        return None

    def _hit(self, call: Call, entry: Entry, kind: str) -> Answer:
        self.counts.cache_hit(kind)
        call.response_headers[HEADER] = "hit"
        return Answer(
            entry.body, "cache", entry.usage, entry.model or call.model, cache_kind=kind, saved_usd=entry.cost_usd
        )

    def _semantic(self, call: Call, policy: Policy, model: str, narrow: str) -> tuple[SemanticIndex, str, str] | None:
        index = self.indexes.get(policy.embedding_model or "local")
        text = last_user_text(call.body.get("messages"))
        rest = rest_key(call.body, model, narrow)
        if index is None or text is None or rest is None:
            return None
        return index, rest, text

    # Keeping an answer: its body (reply inspector, stream watch) and its record (observer), in either order

    def _expect(self, request_id: str, pending: _Pending | None) -> None:
        if pending is None:
            return
        self._pending[request_id] = pending
        if len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    def inspect(self, call: Call, reply: JSONReply) -> JSONReply:
        pending = self._pending.get(call.request_id)
        if pending is not None and reply.status == 200 and reply.wire == "openai":
            pending.body = reply.body
            self._ready(call.request_id, pending)
        return reply

    def open(self, call: Call) -> _Watch | None:
        pending = self._pending.get(call.request_id)
        return None if pending is None else _Watch(self, call.request_id, pending)

    def recorded(self, call: Call, record: UsageRecord) -> None:
        pending = self._pending.get(record.request_id)
        if pending is None:
            return
        if record.status != "ok" or record.cache_hit:
            del self._pending[record.request_id]
            return
        pending.record = record
        self._ready(record.request_id, pending)

    def _ready(self, request_id: str, pending: _Pending) -> None:
        record = pending.record
        if record is None or (pending.body is None and pending.completion is None):
            return
        self._pending.pop(request_id, None)
        usage = Usage(record.input_tokens, record.output_tokens, record.cached_tokens)
        body = pending.body
        if body is None:
            assert pending.completion is not None
            completion = pending.completion
            completion.setdefault("usage", usage.to_openai())
            body = orjson.dumps(completion)
        data = encode(Entry(body, usage, record.cost_usd, record.served_model))
        written = self.store.put(pending.address, data, pending.ttl_s)
        if pending.semantic is not None:
            self._spawn(self._index(written, pending))
        elif not isinstance(written, Ready):
            self._spawn(_await(written))

    async def _index(self, written: Awaitable[None], pending: _Pending) -> None:
        await written
        assert pending.semantic is not None
        index, rest, text = pending.semantic
        await index.add(pending.address.tenant, pending.model, rest, text, str(pending.address))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a cache entry was not kept: %s", task.exception())

    async def settled(self) -> None:
        """Wait for the entries being written (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # Admin

    async def stats(self, tenant: str | None) -> dict[str, Stats]:
        return await self.store.stats(tenant)

    async def clear(self, tenant: str | None, model: str | None) -> int:
        name = None if model is None else self.policies.names.get(model, model)
        removed = await self.store.clear(tenant, None if name is None else model_tag(name))
        for index in self.indexes.values():
            await index.clear(tenant, name)
        return removed


class _Watch:
    """Sees a kept call's stream, chunk by chunk, and passes each on unchanged."""

    __slots__ = ("_assembler", "_cache", "_pending", "_request_id")

    def __init__(self, cache: ResponseCache, request_id: str, pending: _Pending) -> None:
        self._cache = cache
        self._request_id = request_id
        self._pending = pending
        self._assembler = Assembler()

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        self._assembler.feed(chunk)
        return [chunk]

    def finish(self) -> list[dict[str, Any]]:
        """The stream reached its end (`[DONE]`): its completion, if it is one to keep."""
        completion = self._assembler.completion()
        if completion is not None:
            self._pending.completion = completion
            self._cache._ready(self._request_id, self._pending)
        return []


async def _await(work: Awaitable[None]) -> None:
    await work
