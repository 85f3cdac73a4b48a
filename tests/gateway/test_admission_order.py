"""How the pipeline runs its admissions: in order; consecutive remote ones all started before any is awaited (so
their round trips can be shared); every started one settled; the first refusal in list order is the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from oneflow_ai.auth.principal import MASTER
from oneflow_ai.errors import GatewayError, PermissionDenied, QuotaExceeded, RateLimited
from oneflow_ai.gateway.call import Call
from oneflow_ai.gateway.pipeline import _admit
from oneflow_ai.gateway.stages import DONE, Admission, Ready

CALL = Call("req_1", MASTER, "chat", {"messages": []}, "m")


class Remote:
    """Starts at once (records it), answers when `release` is set, then records that it settled."""

    remote = True

    def __init__(self, name: str, events: list[str], release: asyncio.Event, refusal: GatewayError | None = None):
        self.name, self.events, self.release, self.refusal = name, events, release, refusal

    def admit(self, call: Call) -> Awaitable[None]:
        self.events.append(f"start {self.name}")
        return self._settle()

    async def _settle(self) -> None:
        await self.release.wait()
        self.events.append(f"settle {self.name}")
        if self.refusal is not None:
            raise self.refusal


class Local:
    def __init__(self, name: str, events: list[str], refusal: GatewayError | None = None) -> None:
        self.name, self.events, self.refusal = name, events, refusal

    def admit(self, call: Call) -> Awaitable[None]:
        self.events.append(f"local {self.name}")
        if self.refusal is not None:
            raise self.refusal
        return DONE


async def test_remote_admissions_are_all_started_before_any_is_awaited() -> None:
    events: list[str] = []
    release = asyncio.Event()
    admissions: tuple[Admission, ...] = (
        Local("access", events),
        Remote("limits", events, release),
        Remote("budgets", events, release),
        Local("after", events),
    )
    task = asyncio.ensure_future(_admit(admissions, CALL))
    await asyncio.sleep(0)
    assert events == ["local access", "start limits", "start budgets"]  # both queued, neither answered yet
    release.set()
    await task
    assert events[3:] == ["settle limits", "settle budgets", "local after"]


async def test_every_started_admission_settles_and_the_first_refusal_wins() -> None:
    events: list[str] = []
    release = asyncio.Event()
    release.set()
    admissions: tuple[Admission, ...] = (
        Remote("limits", events, release, RateLimited("slow down")),
        Remote("budgets", events, release, QuotaExceeded("no money")),
        Local("after", events),
    )
    with pytest.raises(RateLimited):
        await _admit(admissions, CALL)
    assert events == ["start limits", "start budgets", "settle limits", "settle budgets"]


async def test_a_local_refusal_stops_before_later_admissions_start() -> None:
    events: list[str] = []
    release = asyncio.Event()
    admissions: tuple[Admission, ...] = (Local("access", events, PermissionDenied("no")), Remote("x", events, release))
    with pytest.raises(PermissionDenied):
        await _admit(admissions, CALL)
    assert events == ["local access"]


async def test_ready_is_an_awaitable_with_its_value() -> None:
    assert await Ready(42) == 42
    assert await DONE is None
