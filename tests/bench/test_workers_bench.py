"""`bench.workers`: the sides are the medians of their own slices, the ratios compare them, and the docs section
says whether each target holds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench import workers
from bench.workers import Result, Side, Slice, section

INFO = {"cpus": "2", "cpu": "AMD EPYC", "busy": "1%", "python": "3.11.7", "oneflow-ai": "0.1.0", "uvicorn": "0.54.0"}


def _result(one: list[float], two: list[float], rss: float = 90.0, mode: str = "full-sqlite") -> Result:
    slices = [Slice(1, rps, 1.0, 0.2, 0.2) for rps in one] + [Slice(2, rps, 1.6, 0.2, 0.2) for rps in two]
    return Result(mode, {"1": [rss], "2": [rss, rss]}, [rss + 2], {"1": [rss], "2": [rss, rss]}, slices, [])


def test_each_side_is_the_median_of_its_own_slices() -> None:
    result = _result([1000.0, 900.0, 5000.0], [1700.0, 1800.0, 100.0])
    assert result.side(1) == Side(1000.0, 1.0, 0.2, 0.2)
    assert result.side(2).rps == 1700.0
    assert round(result.ratio, 2) == 1.7
    assert round(result.per_core_ratio, 4) == round((1700 / 1.6) / 1000, 4)


def test_the_section_says_which_target_holds() -> None:
    held = section([_result([1000.0], [1800.0], rss=90.0)], INFO, "cmd")
    assert "holds: under 100 MB" in held and "holds: >= 1.7x" in held
    assert held.startswith("<!-- workers:start -->") and held.endswith("<!-- workers:end -->")
    missed = section([_result([1000.0], [1500.0], rss=96.0)], INFO, "cmd")  # 98 MiB after load = 102.8 MB
    assert "MISSED: under 100 MB" in missed and "MISSED: >= 1.7x" in missed


def test_the_memory_target_is_judged_on_the_settled_figure() -> None:
    result = _result([1000.0], [1800.0], rss=94.0)  # 96 MiB right after the load = 100.7 MB
    settled = section([replace(result, settled=[94.5], settled_s=3.5)], INFO, "cmd")
    assert "| worker RSS MiB right after load (chat, stream, embeddings) | 96 | - |" in settled
    assert "| worker RSS MiB after load, settled (3.5 s later) | 94 | - |" in settled
    assert "holds: under 100 MB, judged at rest and settled); right after the load 96 MiB = 101 MB (MISSED" in settled


def test_one_run_gives_each_mode_its_verdicts_and_judges_the_ratio_where_the_gateway_has_the_cores() -> None:
    sqlite = _result([1000.0], [1800.0], rss=90.0)
    postgres = replace(_result([1000.0], [1500.0], rss=96.0, mode="full-postgres"), services=("PostgreSQL", "Redis"))
    text = section([sqlite, postgres], INFO, "cmd")
    assert text.count("<!-- workers:start -->") == 1 and text.count("Machine: ") == 1
    assert "| full-sqlite | 1 worker | 2 workers |" in text and "| full-postgres | 1 worker | 2 workers |" in text
    assert "- full-sqlite, 2 workers against 1: 1.80x the req/s (holds: >= 1.7x)" in text
    assert "- full-postgres, 2 workers against 1: 1.50x the req/s (not judged: PostgreSQL and Redis ran on the" in text
    assert "- full-postgres, RSS of one worker: 96 MiB = 101 MB at rest" in text and "(MISSED: under 100 MB" in text
    assert "MISSED: >= 1.7x" not in text


def test_rss_is_read_until_it_stops_falling(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    readings = iter([[105.0], [105.0], [105.0], [104.0], [103.5]] + [[103.5]] * 100)
    monkeypatch.setattr(workers, "rss_mib", lambda pids: next(readings))
    monkeypatch.setattr(workers.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(workers.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    assert workers.settled_rss([1]) == ([103.5], 1.0 + workers.STEADY_S)  # last fell at 1.0 s


def test_rss_that_never_stops_falling_is_read_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, falling = [0.0], iter(range(1000, 0, -1))
    monkeypatch.setattr(workers, "rss_mib", lambda pids: [float(next(falling))])
    monkeypatch.setattr(workers.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(workers.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    assert workers.settled_rss([1])[1] == workers.SETTLE_S
