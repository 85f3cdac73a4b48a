"""`Periodic` reloads every turn, survives a failed reload (logged, tried again), and stops when closed."""

from __future__ import annotations

import asyncio
import logging

import pytest

from oneflow_ai.store.periodic import Periodic


async def _until(condition: object, limit_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_a_failed_reload_is_logged_and_the_next_turn_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def reload() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise ConnectionError("database down")

    periodic = Periodic(reload, 0.01, what="things", log=logging.getLogger("test.periodic"))
    with caplog.at_level(logging.WARNING, logger="test.periodic"):
        periodic.start()
        await _until(lambda: len(calls) >= 3)
        await periodic.close()
    assert "could not reload the things (ConnectionError)" in caplog.text
    stopped_at = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == stopped_at  # closed: no more turns


async def test_close_before_start_is_harmless() -> None:
    async def reload() -> None:
        raise AssertionError("never called")

    await Periodic(reload, 0.01, what="things", log=logging.getLogger("test.periodic")).close()
