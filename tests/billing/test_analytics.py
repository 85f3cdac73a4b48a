"""The analytics core, pure: windows and their buckets, figures (rates, mean and p95 latency from the histogram),
ranking and series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from math import ceil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oneflow_ai.billing.analytics import (
    MAX_BUCKETS,
    Window,
    bars,
    breakdown,
    figures,
    percentile_bound,
    rate,
    series,
)
from oneflow_ai.store.aggregates import latency_bucket
from oneflow_ai.store.tables import LATENCY_BOUNDS_MS, LATENCY_COLUMNS

T = datetime(2026, 12, 1, 7, 40, tzinfo=UTC)


def histogram_of(latencies: list[float]) -> list[int]:
    counts = [0] * len(LATENCY_COLUMNS)
    for lat in latencies:
        counts[latency_bucket(lat)] += 1
    return counts


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 60_000, allow_nan=False), min_size=1, max_size=300))
def test_p95_is_the_bucket_of_the_call_at_rank_ceil_095_n(latencies: list[float]) -> None:
    """The true 95th percentile (nearest rank, from the sorted latencies) falls in the bucket reported."""
    nearest_rank = sorted(latencies)[ceil(Decimal("0.95") * len(latencies)) - 1]
    assert percentile_bound(histogram_of(latencies)) == latency_bucket(nearest_rank)


def test_p95_reports_the_bucket_bound_or_above_the_last_bound() -> None:
    sums = {"requests": 20, "latency_ms_sum": 19 * 90.0 + 1 * 4000.0} | dict.fromkeys(LATENCY_COLUMNS, 0)
    sums |= {"lat_le_100": 19, "lat_le_5000": 1}
    out = figures(sums)
    assert out["p95_latency_ms"] == 100  # rank 19 of 20 is in the first bucket
    assert out["p95_latency_above_ms"] is None
    assert out["mean_latency_ms"] == round((19 * 90.0 + 4000.0) / 20, 1)
    sums |= {"lat_le_100": 18, "lat_le_5000": 2}
    assert figures(sums)["p95_latency_ms"] == 5000
    sums |= {"lat_le_100": 0, "lat_le_5000": 0, "lat_gt_30000": 20}
    out = figures(sums)
    assert out["p95_latency_ms"] is None and out["p95_latency_above_ms"] == LATENCY_BOUNDS_MS[-1]
    nothing = figures({})
    assert nothing["p95_latency_ms"] is None and nothing["mean_latency_ms"] is None and nothing["error_rate"] is None


def test_rates_are_exact_quotients_rounded_half_even_to_four_places() -> None:
    assert rate(1, 3) == "0.3333"
    assert rate(2, 3) == "0.6667"
    assert rate(1, 8) == "0.125"
    assert rate(5, 100_000) == "0" and rate(15, 100_000) == "0.0002"  # 0.00015 -> half-even
    assert rate(0, 0) is None
    out = figures({"requests": 40, "errors": 3, "cache_hits": 10, "credits": Decimal("1.5"), "cost_usd": Decimal(0)})
    assert (out["error_rate"], out["cache_hit_rate"], out["credits"]) == ("0.075", "0.25", "1.5")


def test_a_window_labels_every_bucket_it_counts() -> None:
    w = Window(T, T + timedelta(hours=3))  # 07:40 .. 10:40: the 07, 08, 09 and 10 o'clock buckets
    assert w.labels("hour") == [f"2026-12-01T{h:02d}:00:00Z" for h in (7, 8, 9, 10)]
    assert w.labels("day") == ["2026-12-01"]
    assert Window(T, T.replace(hour=10, minute=0)).labels("hour")[-1] == "2026-12-01T09:00:00Z"
    assert Window(T, T + timedelta(days=2)).labels("day") == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert w.bucket == "hour" and Window(T, T + timedelta(days=3, hours=1)).bucket == "day"
    with pytest.raises(ValueError, match="buckets"):
        Window(T, T + timedelta(hours=MAX_BUCKETS + 1)).labels("hour")
    with pytest.raises(ValueError, match="before"):
        Window(T, T)
    with pytest.raises(ValueError, match="zone"):
        Window(T.replace(tzinfo=None), T)


def test_presets_are_the_last_24_hours_or_whole_utc_days_up_to_now() -> None:
    assert Window.preset("24h", T) == Window(T - timedelta(hours=24), T)
    week = Window.preset("7d", T)
    assert week == Window(datetime(2026, 11, 25, tzinfo=UTC), T)
    assert week.labels(week.bucket) == [f"2026-11-{d}" for d in range(25, 31)] + ["2026-12-01"]
    midnight = datetime(2026, 12, 1, tzinfo=UTC)
    assert len(Window.preset("30d", midnight).labels("day")) == 29  # today has not begun: 29 whole days before it
    assert len(Window.preset("90d", T).labels("day")) == 90


def sums(credits: str, requests: int) -> dict[str, object]:
    return {"credits": Decimal(credits), "cost_usd": Decimal(credits) / 100, "requests": requests, "errors": 0}


def test_bars_rank_by_cost_and_fold_the_rest() -> None:
    by_key = {"a": sums("1", 5), "b": sums("3", 1), "c": sums("1", 9), "d": sums("0.5", 1)}
    out = bars("key", by_key, 2)
    assert [g["key"] for g in out["groups"]] == ["b", "c"]  # by credits, then requests
    assert out["rest"]["groups"] == 2
    assert out["rest"]["totals"]["credits"] == "1.5" and out["rest"]["totals"]["requests"] == 6
    assert bars("key", by_key, 10)["rest"] is None


def test_breakdown_sums_the_combinations_of_one_dimension() -> None:
    rows = {("u1", "m1"): sums("1", 1), ("u1", "m2"): sums("2", 2), ("u2", "m1"): sums("4", 4)}
    assert breakdown(rows, ("user", "model"), "model") == {
        "m1": {"credits": Decimal(5), "cost_usd": Decimal("0.05"), "requests": 5, "errors": 0},
        "m2": sums("2", 2),
    }


def test_series_fill_every_bucket_and_fold_the_rest() -> None:
    labels = ["2026-12-01", "2026-12-02", "2026-12-03"]
    rows = {
        ("2026-12-01", "m1"): sums("1", 1),
        ("2026-12-03", "m1"): sums("2", 2),
        ("2026-12-02", "m2"): sums("5", 1),
        ("2026-12-02", "m3"): sums("0.25", 1),
        ("2026-12-03", "m4"): sums("0.5", 3),
    }
    out = series(rows, labels, "model", 2)
    assert out["buckets"] == labels
    assert [g["model"] for g in out["groups"]] == ["m2", "m1"]
    m1 = out["groups"][1]
    assert [p["credits"] for p in m1["points"]] == ["1", "0", "2"]
    assert [p["requests"] for p in m1["points"]] == [1, 0, 2]
    assert m1["totals"]["credits"] == "3"
    assert out["rest"]["groups"] == 2
    assert [p["requests"] for p in out["rest"]["points"]] == [0, 1, 3]
    everything = series({(k[0],): v for k, v in rows.items() if k[1] == "m1"}, labels, None, 10)
    assert everything["groups"][0]["totals"]["requests"] == 3 and "model" not in everything["groups"][0]
