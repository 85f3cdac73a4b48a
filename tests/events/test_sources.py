"""Pure tests: which breaker transitions and audited actions are events."""

from __future__ import annotations

from datetime import UTC, datetime

from oneflow_ai.events.breakers import ObservedBreakers, transition
from oneflow_ai.events.event import Event
from oneflow_ai.events.outbox import from_audit
from oneflow_ai.routing.breaker import Breaker, BreakerBoard, BreakerState

T = datetime(2026, 1, 1, tzinfo=UTC)
CLOSED, OPEN, HALF = (Breaker(state=s) for s in (BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN))


def kind(old: Breaker, new: Breaker) -> str | None:
    e = transition("d", old, new, T)
    return e.type if e else None


def test_breaker_transitions() -> None:
    assert kind(CLOSED, OPEN) == "breaker.opened"
    assert kind(OPEN, HALF) is None and kind(HALF, OPEN) is None  # a failed probe: the same outage
    assert kind(HALF, CLOSED) == "breaker.closed" and kind(OPEN, CLOSED) == "breaker.closed"
    assert kind(CLOSED, CLOSED) is None


def test_observed_breakers_emit_once_per_transition() -> None:
    got: list[Event] = []
    store = ObservedBreakers(BreakerBoard(), got.append, wall=lambda: T)
    for b in (CLOSED, OPEN, OPEN, HALF, OPEN, HALF, CLOSED, CLOSED):
        store.put("dep/0", b)
    assert [e.type for e in got] == ["breaker.opened", "breaker.closed"]
    assert got[0].dedup_key == "breaker.opened:dep/0" and got[0].data == {"deployment_id": "dep/0"}
    assert store.get("dep/0") == CLOSED


def test_audited_key_actions_are_events() -> None:
    created = from_audit("api_key.create", "t1", "key_1", {"role": "member", "user_id": "u"}, T)
    assert created is not None and (created.type, created.tenant) == ("key.created", "t1")
    assert created.data == {"key_id": "key_1", "role": "member", "user_id": "u"}
    rotated = from_audit("api_key.rotate", "t1", "key_1", {"new_key_id": "key_2", "grace_period_s": 60}, T)
    assert rotated is not None and rotated.data["new_key_id"] == "key_2"
    revoked = from_audit("api_key.revoke", None, "key_1", {}, T)
    assert revoked is not None and revoked.type == "key.revoked"
    assert from_audit("api_key.update", "t1", "key_1", {}, T) is None
    assert from_audit("user.login", "t1", None, None, T) is None


def test_observed_breakers_say_whether_the_store_beneath_is_shared() -> None:
    class Remote:  # a store other than this process's own board (as the Redis one is)
        def get(self, deployment_id: str) -> Breaker:
            return CLOSED

        def put(self, deployment_id: str, breaker: Breaker) -> None:
            return None

        def view(self) -> dict[str, Breaker]:
            return {}

    assert ObservedBreakers(BreakerBoard(), lambda e: None).shared is False
    assert ObservedBreakers(Remote(), lambda e: None).shared is True
