"""The pipeline's extension seams, composed in one visible place (`runtime.Gateway`).

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
"""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import GatewayError
from oneflow_ai.gateway.call import Call
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
