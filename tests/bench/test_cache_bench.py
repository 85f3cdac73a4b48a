"""`python -m bench.cache` runs end to end (tiny numbers: this checks the harness, not the targets)."""

from __future__ import annotations

import pytest

from bench import cache


def test_the_cache_benchmark_runs_and_reports_both_targets(capsys: pytest.CaptureFixture[str]) -> None:
    cache.main(["--sequential", "20", "--requests", "256", "--concurrency", "8"])
    out = capsys.readouterr().out
    assert "adds" in out and "(target <= 0.2)" in out
    assert "hits" in out and "(target >= 2.0x)" in out
    assert "cache targets: hold" in out or "cache targets: do not hold" in out
