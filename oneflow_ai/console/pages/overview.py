"""The overview (the console's landing page): for a chosen range, requests, tokens, cost in credits / USD / INR,
error rate, p95 latency and cache hit rate, and charts by user, department, key, model, provider and hour or day.

Read from the usage aggregates by `billing.analytics_report.dashboard` (two reads, whatever the size of the
ledger), confined like `/api/v1/admin/analytics/*`: a tenant's owners, admins and viewers see the tenant, a
member its own calls, the master key every tenant. The chart data goes into the page as JSON (a
`<script type="application/json">`, which the CSP lets be: it is never run) and `static/overview.js` draws it
with the vendored Chart.js (`static/chart.js-VERSION.txt`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from oneflow_ai.api.deps import GatewayDep
from oneflow_ai.auth.principal import Principal
from oneflow_ai.billing.analytics import RANGES, Scope, Window
from oneflow_ai.billing.analytics_names import TABLES, names
from oneflow_ai.billing.analytics_report import CHARTS, dashboard
from oneflow_ai.console.deps import SignedIn
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import InvalidRequest, PermissionDenied
from oneflow_ai.identity.roles import Can, can, confine, own_calls


def reads_usage(p: Principal) -> bool:
    return can(p, Can.READ_TENANT) or can(p, Can.READ_OWN_USAGE)


router = APIRouter()
PAGE = Page(router=router, title="Overview", path="/overview", visible=reads_usage)
RANGE_CHOICES = (("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("90d", "Last 90 days"))
"""The chooser's presets (`Window.preset`: the days are UTC days, today's so far the last)."""
DEFAULT_RANGE = "7d"
LONGEST = timedelta(days=366)
CHART_TITLES = {"user": "user", "department": "department", "key": "API key", "model": "model", "provider": "provider"}
NONE_LABEL = "(none)"


def chosen_window(span: str | None, start: str | None, end: str | None, now: datetime) -> tuple[Window, str]:
    """The window asked for and the chooser's value: a preset (`RANGES`, default 7 days) up to now, or `custom`
    whole UTC days from `start` to `end` (both YYYY-MM-DD, inclusive)."""
    if start or end:
        try:
            first = date.fromisoformat(start or "")
            last = date.fromisoformat(end or "")
        except ValueError:
            raise InvalidRequest("A custom range needs both days, as YYYY-MM-DD.", param="start") from None
        if last < first:
            raise InvalidRequest("The range ends before it starts.", param="end")
        window = Window(datetime.combine(first, time(), UTC), datetime.combine(last + timedelta(days=1), time(), UTC))
        if window.end - window.start > LONGEST:
            raise InvalidRequest("Choose at most a year.", param="end")
        return window, "custom"
    chosen = span or DEFAULT_RANGE
    if chosen not in RANGES:
        raise InvalidRequest(f"The range must be one of {', '.join(RANGES)}.", param="range")
    return Window.preset(chosen, now), chosen


def whole(n: int) -> str:
    return f"{n:,}"


def amount(text: str, places: int = 2) -> str:
    """A decimal string for display: `places` decimals with thousands separators; a non-zero amount smaller than
    that shown to its first significant digits instead of as 0.00."""
    value = Decimal(text)
    step = Decimal(1).scaleb(-places)
    if value == 0 or abs(value) >= step:
        return f"{value.quantize(step, rounding=ROUND_HALF_UP):,}"
    significant = max(places, -value.adjusted() + 1)
    return f"{value.quantize(Decimal(1).scaleb(-significant), rounding=ROUND_HALF_UP):f}"


def percent(rate: str | None) -> str:
    return "—" if rate is None else f"{(Decimal(rate) * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)} %"


def p95(totals: dict[str, Any]) -> str:
    if totals["p95_latency_ms"] is not None:
        return f"≤ {totals['p95_latency_ms']:,} ms"
    if totals["p95_latency_above_ms"] is not None:
        return f"> {totals['p95_latency_above_ms']:,} ms"
    return "—"


def cards(totals: dict[str, Any]) -> list[dict[str, str]]:
    """The headline figures as the page shows them: `id`, `label`, `value` (rounded for reading), `exact` (the
    figure in full, in the element's `data-exact` and its tooltip) and a `note` under it."""
    mean = totals["mean_latency_ms"]
    return [
        {
            "id": "requests",
            "label": "Requests",
            "value": whole(totals["requests"]),
            "exact": str(totals["requests"]),
            "note": f"{whole(totals['errors'])} failed",
        },
        {
            "id": "tokens",
            "label": "Tokens in / out",
            "value": f"{whole(totals['input_tokens'])} / {whole(totals['output_tokens'])}",
            "exact": f"{totals['input_tokens']} / {totals['output_tokens']}",
            "note": f"{whole(totals['cached_tokens'])} input tokens cached",
        },
        {
            "id": "credits",
            "label": "Cost (credits)",
            "value": amount(totals["credits"]),
            "exact": totals["credits"],
            "note": "",
        },
        {
            "id": "cost-usd",
            "label": "Cost (USD)",
            "value": "$" + amount(totals["cost_usd"]),
            "exact": totals["cost_usd"],
            "note": "saved by the cache: $" + amount(totals["saved_usd"]),
        },
        {
            "id": "cost-inr",
            "label": "Cost (INR)",
            "value": "₹" + amount(totals["cost_inr"]),
            "exact": totals["cost_inr"],
            "note": "",
        },
        {
            "id": "error-rate",
            "label": "Error rate",
            "value": percent(totals["error_rate"]),
            "exact": totals["error_rate"] or "",
            "note": f"{whole(totals['errors'])} of {whole(totals['requests'])}",
        },
        {
            "id": "p95",
            "label": "p95 latency",
            "value": p95(totals),
            "exact": p95(totals),
            "note": "histogram bucket bound; mean " + (f"{mean:,} ms" if mean is not None else "—"),
        },
        {
            "id": "cache-hit-rate",
            "label": "Cache hit rate",
            "value": percent(totals["cache_hit_rate"]),
            "exact": totals["cache_hit_rate"] or "",
            "note": f"{whole(totals['cache_hits'])} hits",
        },
    ]


def _label(value: Any, known: Mapping[str, str] | None = None) -> str:
    """A group's label: its name when `known` has one (users, departments, keys), else its value."""
    if value in (None, ""):
        return NONE_LABEL
    return (known or {}).get(value) or str(value)


def chart_data(data: dict[str, Any], named: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """What `overview.js` draws: bars per chart (labels, credits, requests) and the calls over time by model;
    `named` gives the names of ids (`analytics_names.names`)."""
    bars: dict[str, Any] = {}
    for name in CHARTS:
        chart = data["by"][name]
        groups = [(_label(g[name], named.get(name)), g["totals"]) for g in chart["groups"]]
        if chart["rest"] is not None:
            groups.append((f"{chart['rest']['groups']} more", chart["rest"]["totals"]))
        bars[name] = {
            "title": CHART_TITLES[name],
            "labels": [label for label, _ in groups],
            "credits": [float(t["credits"]) for _, t in groups],
            "requests": [t["requests"] for _, t in groups],
        }
    over_time = data["over_time"]
    series = [(_label(g["model"]), g["points"]) for g in over_time["groups"]]
    if over_time["rest"] is not None:
        series.append((f"{over_time['rest']['groups']} more models", over_time["rest"]["points"]))
    return {
        "bucket": data["bucket"],
        "bars": bars,
        "over_time": {
            "labels": over_time["buckets"],
            "series": [
                {
                    "label": label,
                    "requests": [p["requests"] for p in points],
                    "credits": [float(p["credits"]) for p in points],
                }
                for label, points in series
            ],
        },
        "latency": {
            "labels": [f"≤ {b['le_ms']:,}" if "le_ms" in b else f"> {b['gt_ms']:,}" for b in data["latency_histogram"]],
            "counts": [b["count"] for b in data["latency_histogram"]],
        },
    }


def scope_of(p: Principal) -> Scope:
    if not reads_usage(p):
        raise PermissionDenied(f"Your role ({p.role or 'none'}) may not read usage.")
    return Scope(tenant=confine(p, None), user=own_calls(p))


@router.get("/overview")
async def overview_page(
    request: Request,
    p: SignedIn,
    gw: GatewayDep,
    span: Annotated[str | None, Query(alias="range", max_length=16)] = None,
    start: Annotated[str | None, Query(max_length=10)] = None,
    end: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    scope = scope_of(p)
    window, chosen = chosen_window(span, start, end, datetime.now(UTC))
    data = await dashboard(gw.engine, scope, window, gw.pricing.inr_per_usd)
    wanted = {name: [g[name] for g in data["by"][name]["groups"]] for name in TABLES if name in data["by"]}
    named = await names(gw.engine, scope.tenant, wanted)
    context = {
        "cards": cards(data["totals"]),
        "charts": [(name, CHART_TITLES[name]) for name in CHARTS],
        "chart_data": chart_data(data, named),
        "named": named,
        "data": data,
        "range_choices": RANGE_CHOICES,
        "chosen": chosen,
        "start_day": window.start.date().isoformat(),
        "end_day": (window.end - timedelta(microseconds=1)).date().isoformat(),
        "window": window,
        "own_calls": scope.user is not None,
        "none_label": NONE_LABEL,
    }
    return render(request, "overview.html", context)
