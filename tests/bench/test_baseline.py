"""`bench.run --baseline`: each mode's req/s is compared with the same mode of another version, from the same run."""

from __future__ import annotations

from typing import Any

from bench.report import TargetRun
from bench.run import against_baseline, parse_args
from bench.wrk import WrkResult


def _run(name: str, requests: int) -> TargetRun:
    wrk = WrkResult(requests, 1_000_000, 0, 0, 1, 1, 1, 1)  # one second: req/s == requests
    none: Any = None
    return TargetRun(name, wrk, wrk, {}, none, wrk, wrk)


def test_each_mode_is_compared_with_its_own_baseline() -> None:
    runs = [
        _run("oneflow full-sqlite (baseline)", 4000),
        _run("oneflow full-sqlite", 3900),
        _run("oneflow full-postgres (baseline)", 3000),
        _run("oneflow full-postgres", 3300),
        _run("oneflow bare", 5000),  # no baseline: not compared
    ]
    assert against_baseline(runs) == [
        "oneflow full-sqlite: 3,900 req/s, baseline 4,000 (-2.5 %)",
        "oneflow full-postgres: 3,300 req/s, baseline 3,000 (+10.0 %)",
    ]


def test_the_baseline_is_a_command_path() -> None:
    assert str(parse_args(["--baseline", "/tmp/base/bin/oneflow"]).baseline) == "/tmp/base/bin/oneflow"
    assert parse_args([]).baseline is None
