"""A `BreakerStore` that reports its breakers opening and closing as events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from oneflow_ai.events.event import Event
from oneflow_ai.routing.breaker import Breaker, BreakerBoard, BreakerState, BreakerStore


def transition(deployment_id: str, old: Breaker, new: Breaker, at: datetime) -> Event | None:
    """`breaker.opened` when a breaker opens (from closed: a half-open probe failing is still the same outage),
    `breaker.closed` when it closes again."""
    if old.state == BreakerState.CLOSED and new.state == BreakerState.OPEN:
        kind = "breaker.opened"
    elif old.state != BreakerState.CLOSED and new.state == BreakerState.CLOSED:
        kind = "breaker.closed"
    else:
        return None
    return Event(kind, None, {"deployment_id": deployment_id}, at, dedup_key=f"{kind}:{deployment_id}")


class ObservedBreakers:
    def __init__(
        self,
        inner: BreakerStore,
        emit: Callable[[Event], None],
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.inner = inner
        self.shared = not isinstance(inner, BreakerBoard)
        """Whether the breakers are shared between processes (a Redis store under the reports)."""
        self._emit = emit
        self._wall = wall

    def get(self, deployment_id: str) -> Breaker:
        return self.inner.get(deployment_id)

    def view(self) -> Mapping[str, Breaker]:
        return self.inner.view()

    def put(self, deployment_id: str, breaker: Breaker) -> None:
        old = self.inner.get(deployment_id)
        self.inner.put(deployment_id, breaker)
        if old.state != breaker.state and (event := transition(deployment_id, old, breaker, self._wall())):
            self._emit(event)
