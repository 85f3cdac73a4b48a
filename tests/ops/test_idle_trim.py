"""Memory is given back once per burst of calls, when none has run for the quiet period (`ops.idle_trim`)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import httpx
import pytest

from oneflow_ai.ops import heap
from oneflow_ai.ops.idle_trim import IdleTrim, Quiet, watch
from tests.conftest import GatewayFactory

QUIET = 1.0


def run(ticks: list[tuple[float, int, int]], start: Quiet | None = None) -> list[float]:
    """When the watcher gives memory back, fed (time, calls started, calls in flight) at each tick."""
    state, trims = start or Quiet(0, 0.0, 0), []
    for now, calls, in_flight in ticks:
        state, trim = watch(state, calls, in_flight, now, QUIET)
        if trim:
            trims.append(now)
    return trims


def test_nothing_is_given_back_before_any_call() -> None:
    assert run([(t / 2, 0, 0) for t in range(10)]) == []


def test_a_burst_is_followed_by_one_trim_once_quiet() -> None:
    burst = [(0.5, 10, 4), (1.0, 50, 2), (1.5, 64, 0)]
    quiet = [(2.0 + t / 2, 64, 0) for t in range(10)]
    assert run(burst + quiet) == [2.5]  # a second after the last tick that saw calls


def test_a_call_in_flight_holds_it_off() -> None:
    long_stream = [(t / 2, 1, 1) for t in range(10)]
    assert run([*long_stream, (5.0, 1, 0), (5.5, 1, 0), (6.0, 1, 0)]) == [5.5]  # last seen running at 4.5


def test_calls_that_start_and_end_between_ticks_count_as_activity() -> None:
    ticks = [(0.5, 1, 0), (1.0, 2, 0), (1.5, 3, 0), (2.0, 4, 0), (2.5, 4, 0), (3.0, 4, 0)]
    assert run(ticks) == [3.0]


def test_the_next_burst_trims_again() -> None:
    ticks = [(0.5, 5, 0), (1.0, 5, 0), (1.5, 5, 0), (2.0, 5, 0), (2.5, 6, 0), (3.0, 6, 0), (3.5, 6, 0)]
    assert run(ticks) == [1.5, 3.5]


def test_what_came_before_the_start_is_not_a_burst() -> None:
    assert run([(t / 2, 7, 0) for t in range(1, 10)], start=Quiet(7, 0.0, 7)) == []


@dataclass
class Traffic:
    calls: int = 0
    in_flight: int = 0


async def test_the_task_gives_back_after_a_burst_and_survives_a_failure() -> None:
    traffic, given = Traffic(), asyncio.Queue[int]()

    def give_back() -> None:
        given.put_nowait(traffic.calls)
        if traffic.calls == 1:
            raise RuntimeError("the first one fails")

    idle = IdleTrim(traffic, 0.02, give_back)
    idle.start()
    try:
        traffic.calls = 1
        assert await asyncio.wait_for(given.get(), 10) == 1
        traffic.calls = 2
        assert await asyncio.wait_for(given.get(), 10) == 2  # still running after the failure
    finally:
        await idle.close()


def test_give_back_collects_cycles_and_trims_the_c_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import weakref

    class Node:
        other: object

    node = Node()
    node.other = node
    gone = weakref.ref(node)
    del node
    gc.disable()  # no automatic collection may free the cycle first
    try:
        trims: list[int] = []
        monkeypatch.setattr(heap, "_malloc_trim", lambda: trims.append)
        heap.give_back()
    finally:
        gc.enable()
    assert gone() is None
    assert trims == [0]


def test_malloc_trim_is_found_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    trim = heap._malloc_trim()
    assert trim is not None and trim(0) in (0, 1)


def test_the_gateway_gives_back_once_its_calls_are_over(
    start_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = threading.Event()
    monkeypatch.setattr(heap, "give_back", given.set)  # the lifespan reads it when it starts
    server = start_gateway(idle_trim_s=0.05)
    given.clear()  # start-up's readiness checks may have been a burst already
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200
    assert given.wait(10)
