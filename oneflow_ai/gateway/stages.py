"""The pipeline's extension seams, composed in one visible place (`gateway.compose.stages`) in this order:
authenticate (the edge), admit (model access, rate limits, budgets, input guards), rewrite the request
(redaction), answer it without an upstream (a cache), plan the route and call the provider with its fallbacks,
inspect the reply or each event of the stream (output guards), price and record.

- An `Admission` runs before any upstream is called and may refuse the call by raising a `GatewayError`
  (rate limits, budgets, input guardrails). `admit(call)` does at once what it can and returns what is left
  to wait for (`DONE` when nothing is). They run in the order the gateway lists them, except that
  consecutive admissions that wait on a remote store (`remote = True`: Redis-backed rate limits and budgets)
  are all started before any is awaited, so that they share one round trip; the first refusal (in list
  order) is the answer.
- An `Observer` is told about each upstream attempt and about the final ledger record (health, circuit
  breakers, metrics, logs, traces, budget settlement). Observers must not raise and must not block.
  `attempt_started` and `attempt_finished` bracket every attempt: a stream's attempt finishes when the stream
  ends, with the upstream's error when it failed mid-way (`None` when it completed, its client left or the
  shutdown cut it), and `stream_opened` tells in between that its first chunk arrived (it serves the call).
- A `RequestRewriter` runs after the admissions and may change the call's body (redaction) before anything
  reads it again (the cache, the providers).
- A `Responder` may answer the call itself (`Answer`, an OpenAI chat completion), in the order listed; the first
  answer wins and no upstream is called. The call is recorded `ok` with the responder's name as its provider
  (`served_by`, e.g. `cache`), no deployment and no cost; a caller that asked for a stream gets the answer as
  one (see `gateway.answered`). Only calls in OpenAI's format are offered (not a native `/v1/messages` call).
- A `ReplyInspector` sees each complete JSON reply in OpenAI's format before it is sent, and returns it (the same
  or rewritten: a new `JSONReply`), or refuses it by raising a `GatewayError`. It reads the reply's `json()`, parsed
  once for every inspector (a provider that parsed the upstream's answer already hands its parse on).
- A `StreamInspector` opens a `StreamWatch` per streamed call; the watch sees each OpenAI chunk (a parsed dict)
  before it is sent and returns the chunks to send in its place: none (held back, a window the watch must keep
  bounded), the chunk itself, or others (rewritten). `finish()` returns what it still holds when the stream
  ends; raising a `GatewayError` ends the stream with that error event. With no stream inspector the relay does
  not parse a chunk. While any inspector is configured, a native call (`/v1/messages` served by an Anthropic
  deployment) is translated like any other, so that the inspectors see its answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import GatewayError
from oneflow_ai.gateway.call import Call, JSONReply
from oneflow_ai.providers.base import Usage
from oneflow_ai.store.ledger import UsageRecord

T = TypeVar("T")


class Admission(Protocol):
    def admit(self, call: Call) -> Awaitable[None]: ...


class Ready(Generic[T]):
    """An awaitable that is already finished, with its value: what a stage answering at once returns."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, T]:
        return self.value
        yield  # a generator that returns at once


DONE: Awaitable[None] = Ready(None)


def is_remote(admission: Admission) -> bool:
    return bool(getattr(admission, "remote", False))


class Observer(Protocol):
    def attempt_started(self, call: Call, deployment: Deployment) -> None: ...

    def stream_opened(self, call: Call, deployment: Deployment) -> None:
        """A stream's first chunk arrived, in the attempt's own task (`attempt_finished` comes from the relay's)."""
        ...

    def attempt_finished(
        self, call: Call, deployment: Deployment, error: GatewayError | None, latency_s: float, ttft_s: float | None
    ) -> None: ...

    def recorded(self, call: Call, record: UsageRecord) -> None: ...


@runtime_checkable
class RejectionObserver(Protocol):
    """Optional: told when an `Admission` refused a call (before `recorded`), with the refusal itself."""

    def rejected(self, call: Call, error: GatewayError) -> None: ...


class QuietObserver:
    """An `Observer` that ignores every event: subclass it and override only the events you need."""

    def attempt_started(self, call: Call, deployment: Deployment) -> None:
        return None

    def stream_opened(self, call: Call, deployment: Deployment) -> None:
        return None

    def attempt_finished(
        self, call: Call, deployment: Deployment, error: GatewayError | None, latency_s: float, ttft_s: float | None
    ) -> None:
        return None

    def recorded(self, call: Call, record: UsageRecord) -> None:
        return None


class Observers:
    """Fans each event out to every observer, in order."""

    __slots__ = ("all", "rejecting")

    def __init__(self, observers: list[Observer]) -> None:
        self.all = tuple(observers)
        self.rejecting: tuple[RejectionObserver, ...] = tuple(o for o in observers if isinstance(o, RejectionObserver))

    def attempt_started(self, call: Call, deployment: Deployment) -> None:
        for o in self.all:
            o.attempt_started(call, deployment)

    def stream_opened(self, call: Call, deployment: Deployment) -> None:
        for o in self.all:
            o.stream_opened(call, deployment)

    def attempt_finished(
        self, call: Call, deployment: Deployment, error: GatewayError | None, latency_s: float, ttft_s: float | None
    ) -> None:
        for o in self.all:
            o.attempt_finished(call, deployment, error, latency_s, ttft_s)

    def recorded(self, call: Call, record: UsageRecord) -> None:
        for o in self.all:
            o.recorded(call, record)

    def rejected(self, call: Call, error: GatewayError) -> None:
        for o in self.rejecting:
            o.rejected(call, error)


@dataclass(slots=True, frozen=True)
class Answer:
    """A call answered without an upstream: an OpenAI chat completion (`body`), and the usage to record."""

    body: bytes
    served_by: str
    """Recorded as the call's provider (`cache`, say)."""
    usage: Usage | None = None
    model: str | None = None
    cache_kind: str | None = None
    """`exact` or `semantic` when the answer came from the response cache: recorded as a cache hit, with
    `usage` (the tokens of the call that filled the entry) and `saved_usd` (what that call cost)."""
    saved_usd: Decimal = Decimal(0)


class Responder(Protocol):
    def answer(self, call: Call) -> Awaitable[Answer | None]: ...


class RequestRewriter(Protocol):
    def rewrite(self, call: Call) -> None:
        """Change `call.body` (replace it: it may be the caller's own object) before anything else reads it."""
        ...


class ReplyInspector(Protocol):
    def inspect(self, call: Call, reply: JSONReply) -> JSONReply: ...


class StreamWatch(Protocol):
    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]: ...

    def finish(self) -> list[dict[str, Any]]: ...


class StreamInspector(Protocol):
    def open(self, call: Call) -> StreamWatch | None:
        """A watch for this call's stream, or None to let it pass unseen."""
        ...


@dataclass(slots=True, frozen=True)
class Stages:
    """The stages of one gateway, each kind in the order it runs (`gateway.compose.stages` builds it)."""

    admissions: tuple[Admission, ...] = ()
    rewriters: tuple[RequestRewriter, ...] = ()
    responders: tuple[Responder, ...] = ()
    reply_inspectors: tuple[ReplyInspector, ...] = ()
    stream_inspectors: tuple[StreamInspector, ...] = ()
    observers: tuple[Observer, ...] = ()

    @property
    def inspects(self) -> bool:
        """Some stage reads the answer before it is sent, native calls' too (an inspector that reads no native
        call says so with `reads_native = False`: the response cache)."""
        inspectors = (*self.reply_inspectors, *self.stream_inspectors)
        return any(getattr(i, "reads_native", True) for i in inspectors)
