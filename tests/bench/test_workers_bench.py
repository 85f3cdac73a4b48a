"""`bench.workers`: the sides are the medians of their own slices, the ratios compare them, and the docs section
says whether each target holds."""

from __future__ import annotations

from bench.workers import Result, Side, Slice, section

INFO = {"cpus": "2", "cpu": "AMD EPYC", "busy": "1%", "python": "3.11.7", "oneflow-ai": "0.1.0", "uvicorn": "0.54.0"}


def _result(one: list[float], two: list[float], rss: float = 90.0) -> Result:
    slices = [Slice(1, rps, 1.0, 0.2, 0.2) for rps in one] + [Slice(2, rps, 1.6, 0.2, 0.2) for rps in two]
    return Result("full-sqlite", {"1": [rss], "2": [rss, rss]}, [rss + 2], {"1": [rss], "2": [rss, rss]}, slices, [])


def test_each_side_is_the_median_of_its_own_slices() -> None:
    result = _result([1000.0, 900.0, 5000.0], [1700.0, 1800.0, 100.0])
    assert result.side(1) == Side(1000.0, 1.0, 0.2, 0.2)
    assert result.side(2).rps == 1700.0
    assert round(result.ratio, 2) == 1.7
    assert round(result.per_core_ratio, 4) == round((1700 / 1.6) / 1000, 4)


def test_the_section_says_which_target_holds() -> None:
    held = section(_result([1000.0], [1800.0], rss=90.0), INFO, "cmd")
    assert "holds: under 100 MB" in held and "holds: >= 1.7x" in held
    assert held.startswith("<!-- workers:start -->") and held.endswith("<!-- workers:end -->")
    missed = section(_result([1000.0], [1500.0], rss=96.0), INFO, "cmd")  # 98 MiB after load = 102.8 MB
    assert "MISSED: under 100 MB" in missed and "MISSED: >= 1.7x" in missed
