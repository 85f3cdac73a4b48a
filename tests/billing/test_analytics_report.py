"""The analytics read from the aggregates equal the sums over the raw ledger records, exactly, on SQLite and
PostgreSQL: the overview, each series (by dimension, by hour and by day), the dashboard, and each scope."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oneflow_ai.billing.analytics import Scope, Window
from oneflow_ai.billing.analytics_report import CHARTS, dashboard, group_series, overview
from oneflow_ai.store.aggregates import day_of, hour_of
from oneflow_ai.store.db import create_engine
from oneflow_ai.store.ledger import UsageRecord
from tests.billing.analytics_data import INR, by, counted, expected, seeded, without_mean, write

START = datetime(2031, 3, 14, 4, tzinfo=UTC)
"""A time no other test writes at (PostgreSQL's database is shared by the session)."""
WINDOW = Window(START + timedelta(hours=5, minutes=30), START + timedelta(days=3, hours=7))
"""Ragged at both ends: partial days read from the hourly table, whole days from the daily one."""
COLUMN = {
    "user": "user_id",
    "department": "department_id",
    "key": "key_id",
    "model": "requested_model",
    "served_model": "served_model",
    "provider": "provider",
    "tenant": "tenant_id",
}


@pytest.fixture
def ledger(database_url: str) -> tuple[str, list[UsageRecord], list[str]]:
    tag = uuid.uuid4().hex[:8]
    tenants = [f"{tag}-a", f"{tag}-b"]
    records = seeded(tag, START, hours=4 * 24, n=600, tenants=tenants)
    write(database_url, records)
    return database_url, records, tenants


def read(database_url: str, fn: Callable[[Any], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        engine = create_engine(database_url)
        try:
            return await fn(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def check(figures: dict[str, Any], records: list[UsageRecord]) -> None:
    want = expected(records)
    assert without_mean(figures) == without_mean(want)
    if want["mean_latency_ms"] is not None:
        assert abs(figures["mean_latency_ms"] - want["mean_latency_ms"]) <= 0.1


def test_the_overview_is_the_sum_of_the_raw_records(ledger: tuple[str, list[UsageRecord], list[str]]) -> None:
    url, records, (a, b) = ledger
    mine = counted(records, WINDOW.start, WINDOW.end)
    assert 0 < len(mine) < len(records)
    for scope, want in (
        (Scope(), mine),
        (Scope(tenant=a), [r for r in mine if r.tenant_id == a]),
        (Scope(tenant=b, user=f"{b}-user-1"), [r for r in mine if r.user_id == f"{b}-user-1"]),
    ):
        out = read(url, lambda e, s=scope: overview(e, s, WINDOW, INR))  # type: ignore[misc]
        check(out["totals"], want)
        assert sum(h["count"] for h in out["latency_histogram"]) == sum(r.latency_ms is not None for r in want)
    assert expected(mine)["p95_latency_ms"] is None  # the data set puts its p95 past the last bound


@pytest.mark.parametrize("bucket", ["hour", "day", None])
@pytest.mark.parametrize("group_by", ["model", "served_model", "key", "provider", None])
def test_each_series_point_is_the_sum_of_its_raw_records(
    ledger: tuple[str, list[UsageRecord], list[str]], group_by: str | None, bucket: str | None
) -> None:
    url, records, (a, _) = ledger
    mine = [r for r in counted(records, WINDOW.start, WINDOW.end) if r.tenant_id == a]
    out = read(
        url,
        lambda e: group_series(e, Scope(tenant=a), WINDOW, INR, group_by=group_by, bucket=bucket, limit=100),
    )
    groups = by(mine, lambda r: getattr(r, COLUMN[group_by]) if group_by else None)
    assert out["rest"] is None and len(out["groups"]) == len(groups)
    for g in out["groups"]:
        group_records = groups[g.get(group_by)] if group_by else mine
        check(g["totals"], group_records)
        if bucket is None:
            assert "points" not in g
            continue
        cut = hour_of if bucket == "hour" else day_of
        labels = out["buckets"]
        assert labels == WINDOW.labels(bucket)
        at = by(group_records, lambda r, cut=cut: cut(r.created_at))  # type: ignore[misc]
        for label, p in zip(labels, g["points"], strict=True):
            moment = datetime.fromisoformat(label.replace("Z", "+00:00") if bucket == "hour" else label + "T00:00Z")
            want = expected(at.get(moment, []))
            assert p == {k: want[k] for k in p}, label


def test_the_dashboard_breaks_the_totals_down_exactly(ledger: tuple[str, list[UsageRecord], list[str]]) -> None:
    url, records, (a, _) = ledger
    mine = [r for r in counted(records, WINDOW.start, WINDOW.end) if r.tenant_id == a]
    out = read(url, lambda e: dashboard(e, Scope(tenant=a), WINDOW, INR, limit=3))
    check(out["totals"], mine)
    assert out["bucket"] == "day"
    for name in CHARTS:
        groups = by(mine, lambda r, n=name: getattr(r, COLUMN[n]))  # type: ignore[misc]
        chart = out["by"][name]
        shown = [g[name] for g in chart["groups"]]
        assert len(shown) == min(3, len(groups))
        for g in chart["groups"]:
            check(g["totals"], groups[g[name]])
        rest = [r for value, rs in groups.items() if value not in shown for r in rs]
        if rest:
            check(chart["rest"]["totals"], rest)
        else:
            assert chart["rest"] is None
        credits = [g["totals"]["credits"] for g in chart["groups"]]
        assert credits == sorted(credits, key=lambda c: -float(c))
    over_time = out["over_time"]
    labels = WINDOW.labels("day")
    assert over_time["buckets"] == labels
    models = by(mine, lambda r: r.requested_model)
    drawn = [(g["points"], models.pop(g["model"])) for g in over_time["groups"]]
    drawn.append((over_time["rest"]["points"], [r for rs in models.values() for r in rs]))
    for points, rs in drawn:
        days = by(rs, lambda r: r.created_at.strftime("%Y-%m-%d"))
        for label, p in zip(labels, points, strict=True):
            want = expected(days.get(label, []))
            assert p == {k: want[k] for k in p}, label
