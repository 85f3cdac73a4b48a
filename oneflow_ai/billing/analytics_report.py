"""The console's analytics queries, read from the usage aggregates through `usage.grouped` (the same reading as
`/api/v1/usage`: whole UTC days from `usage_daily`, ragged edges and hourly series from `usage_hourly`).

- `overview`: the headline figures of a window and its latency histogram (one grouped read).
- `series`: one dimension's groups, over time (`bucket`) or not, the top `limit` by cost and the rest folded.
- `dashboard`: everything the console's overview page draws, in two reads: the figures and a breakdown by
  user, department, key, model and provider from one read grouped by all of them, and the calls over time by
  model from another.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.billing.analytics import Scope, Window, bars, breakdown, figures, histogram, series, total
from oneflow_ai.billing.usage import UsageQuery, grouped

CHARTS = ("user", "department", "key", "model", "provider")
"""The bar charts of the overview page, in their order."""


def _window(window: Window) -> dict[str, str]:
    return {"start": window.start.isoformat(), "end": window.end.isoformat()}


async def overview(engine: AsyncEngine, scope: Scope, window: Window, inr_per_usd: Decimal) -> dict[str, Any]:
    """`{"start", "end", "totals": figures, "latency_histogram": [...]}`."""
    query = UsageQuery(scope.filters(), window.start, window.end, latency=True)
    sums = total((await grouped(engine, query, inr_per_usd)).values())
    return _window(window) | {"totals": figures(sums), "latency_histogram": histogram(sums)}


async def group_series(
    engine: AsyncEngine,
    scope: Scope,
    window: Window,
    inr_per_usd: Decimal,
    *,
    group_by: str | None,
    bucket: str | None,
    limit: int,
) -> dict[str, Any]:
    """Groups of `group_by` (None: all calls as one), each with its figures and, with a `bucket`, a point per
    bucket of the window (`analytics.series`); without one, figures only (`analytics.bars`)."""
    labels = window.labels(bucket) if bucket is not None else []  # checks the bucket count before any read
    names = tuple(n for n in (bucket, group_by) if n is not None)
    query = UsageQuery(scope.filters(), window.start, window.end, names, latency=True)
    rows = await grouped(engine, query, inr_per_usd)
    if bucket is None:
        if group_by is None:
            out = {"group_by": None, "groups": [{"totals": figures(total(rows.values()))}], "rest": None}
        else:
            out = bars(group_by, {key[0]: sums for key, sums in rows.items()}, limit)
        return _window(window) | {"bucket": None} | out
    return _window(window) | {"bucket": bucket} | series(rows, labels, group_by, limit)


async def dashboard(
    engine: AsyncEngine, scope: Scope, window: Window, inr_per_usd: Decimal, *, limit: int = 10
) -> dict[str, Any]:
    """What the overview page shows: `{"start", "end", "bucket", "totals", "latency_histogram", "by": {<chart>:
    bars}, "over_time": series by model}`."""
    filters = scope.filters()
    rows = await grouped(engine, UsageQuery(filters, window.start, window.end, CHARTS, latency=True), inr_per_usd)
    sums = total(rows.values())
    bucket = window.bucket
    labels = window.labels(bucket)
    timed = await grouped(engine, UsageQuery(filters, window.start, window.end, (bucket, "model")), inr_per_usd)
    return _window(window) | {
        "bucket": bucket,
        "totals": figures(sums),
        "latency_histogram": histogram(sums),
        "by": {name: bars(name, breakdown(rows, CHARTS, name), limit) for name in CHARTS},
        "over_time": series(timed, labels, "model", limit),
    }
