"""The console's analytics, pure: a time window and its buckets, the headline figures from summed aggregate
columns, and groups ranked and folded into chart series. The queries are in `analytics_report.py`.

Figures (`figures`), from the sums `usage.grouped` reads from the aggregates (never the raw ledger rows):

- requests, input / output / cached tokens, errors, cache hits, guardrail blocks: counts;
- `credits`, `cost_usd`, `cost_inr` (`cost_usd` times the configured `inr_per_usd`), `saved_usd`: exact decimals;
- `error_rate` and `cache_hit_rate`: errors and cache hits over requests, to four decimals (half-even);
- `mean_latency_ms`: the latency sum over the calls that have a latency (a call refused before any upstream was
  tried has none), to 0.1 ms;
- `p95_latency_ms`: read from the latency histogram (`LATENCY_BOUNDS_MS`), so it is the **upper bound of the
  histogram bucket that holds the 95th percentile** (the calls ranked by latency, the one at rank
  ceil(0.95 x n)): "p95 <= 2,500 ms", never finer than the buckets. When that call is past the last bound,
  `p95_latency_ms` is null and `p95_latency_above_ms` is the last bound (30,000).

A window is [start, end) in UTC; it counts the buckets of the hours from `start`'s hour to before `end` (as
`/api/v1/usage` does). Its series are bucketed by hour for windows up to `HOURLY_UP_TO` (3 days), by UTC day
beyond, unless asked otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from math import ceil
from typing import Any

from oneflow_ai.billing.usage import DIMENSIONS, add_sums, as_json, plus
from oneflow_ai.pricing.engine import decimal_str, exact
from oneflow_ai.store.aggregates import day_of, hour_of
from oneflow_ai.store.tables import LATENCY_BOUNDS_MS, LATENCY_COLUMNS

BUCKETS = ("hour", "day")
GROUPS = tuple(DIMENSIONS)
"""What a series can be grouped by: `usage.DIMENSIONS` (`model` is the requested model, `served_model` the one
that answered)."""
RANGES = {"24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
"""The ranges the console offers, up to now (`Window.preset`)."""
HOURLY_UP_TO = timedelta(days=3)
"""The longest window bucketed by hour when no bucket is asked for."""
MAX_BUCKETS = 2_000
"""Most buckets in one series (83 days by hour, 5 years by day)."""
RATE = Decimal("0.0001")
PERCENTILE = Decimal("0.95")
POINT = ("requests", "input_tokens", "output_tokens", "errors", "cache_hits", "credits", "cost_usd", "cost_inr")
"""The sums a series carries per bucket (the headline figures are per group)."""
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
_TRUNCATE = {"hour": hour_of, "day": day_of}

Sums = Mapping[str, Any]
"""A group's summed aggregate columns, as `usage.grouped` gives them (money as `Decimal`)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose calls a report counts: one tenant's (None: every tenant, the master key), and within it one user's
    (a member reads its own calls only, `identity.roles.own_calls`)."""

    tenant: str | None = None
    user: str | None = None

    def filters(self) -> dict[str, str]:
        return {k: v for k, v in (("tenant", self.tenant), ("user", self.user)) if v is not None}


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a time zone")
        if self.start >= self.end:
            raise ValueError("start must be before end")

    @classmethod
    def last(cls, span: timedelta, now: datetime) -> Window:
        """The `span` up to `now`."""
        return cls(now - span, now)

    @classmethod
    def preset(cls, name: str, now: datetime) -> Window:
        """One of `RANGES` up to `now`: `24h` the last 24 hours; `7d`, `30d`, `90d` that many UTC days, today's
        (so far) among them. Starting at a midnight, the days before today are read from the daily table alone."""
        span = RANGES[name]
        if span <= HOURLY_UP_TO:
            return cls.last(span, now)
        return cls(day_of(now) - span + timedelta(days=1), now)

    @property
    def bucket(self) -> str:
        """The bucket a series of this window is drawn in unless asked otherwise."""
        return "hour" if self.end - self.start <= HOURLY_UP_TO else "day"

    def labels(self, bucket: str) -> list[str]:
        """Every bucket of the window, labelled as `usage` labels them (`2026-12-01T07:00:00Z`, `2026-12-01`);
        ValueError past `MAX_BUCKETS`."""
        step = _STEP[bucket]
        at = _TRUNCATE[bucket](self.start)
        end = self.end.astimezone(UTC)
        if (end - at) / step > MAX_BUCKETS:
            raise ValueError(f"more than {MAX_BUCKETS} buckets of a {bucket}: choose a shorter range or bucket=day")
        out = []
        while at < end:
            out.append(at.strftime("%Y-%m-%dT%H:00:00Z") if bucket == "hour" else at.strftime("%Y-%m-%d"))
            at += step
        return out


def percentile_bound(counts: Sequence[int], q: Decimal = PERCENTILE) -> int | None:
    """The index in `counts` (a latency histogram, in `LATENCY_COLUMNS` order) of the bucket holding the call at
    rank ceil(q x n); None when no call has a latency."""
    n = sum(counts)
    if n == 0:
        return None
    rank = max(1, ceil(q * n))
    seen = 0
    for i, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return i
    raise AssertionError("unreachable: the ranks add up to n")


def rate(part: int, whole: int) -> str | None:
    """`part / whole` to four decimals, half-even, as a decimal string (None when `whole` is 0)."""
    if whole == 0:
        return None
    return decimal_str((Decimal(part) / Decimal(whole)).quantize(RATE, rounding=ROUND_HALF_EVEN))


def latency_figures(sums: Sums) -> dict[str, Any]:
    """Mean and p95 latency from the latency sum and histogram (see the module)."""
    counts = [int(sums.get(c, 0)) for c in LATENCY_COLUMNS]
    timed = sum(counts)
    at = percentile_bound(counts)
    last = len(LATENCY_BOUNDS_MS)
    return {
        "mean_latency_ms": round(float(sums.get("latency_ms_sum", 0.0)) / timed, 1) if timed else None,
        "p95_latency_ms": LATENCY_BOUNDS_MS[at] if at is not None and at < last else None,
        "p95_latency_above_ms": LATENCY_BOUNDS_MS[-1] if at == last else None,
    }


def figures(sums: Sums) -> dict[str, Any]:
    """The headline figures of a group's sums, ready for JSON (money as decimal strings)."""
    requests = int(sums.get("requests", 0))
    out: dict[str, Any] = {
        "requests": requests,
        "input_tokens": int(sums.get("input_tokens", 0)),
        "output_tokens": int(sums.get("output_tokens", 0)),
        "cached_tokens": int(sums.get("cached_tokens", 0)),
        "credits": decimal_str(sums.get("credits", Decimal(0))),
        "cost_usd": decimal_str(sums.get("cost_usd", Decimal(0))),
        "cost_inr": decimal_str(sums.get("cost_inr", Decimal(0))),
        "saved_usd": decimal_str(sums.get("saved_usd", Decimal(0))),
        "errors": int(sums.get("errors", 0)),
        "error_rate": rate(int(sums.get("errors", 0)), requests),
        "cache_hits": int(sums.get("cache_hits", 0)),
        "cache_hit_rate": rate(int(sums.get("cache_hits", 0)), requests),
        "guardrail_blocked": int(sums.get("guardrail_blocked", 0)),
    }
    return out | latency_figures(sums)


def histogram(sums: Sums) -> list[dict[str, Any]]:
    """The latency histogram: `{"le_ms": bound, "count": n}` per bucket, the last `{"gt_ms": 30000, ...}`."""
    out: list[dict[str, Any]] = [
        {"le_ms": bound, "count": int(sums.get(c, 0))}
        for bound, c in zip(LATENCY_BOUNDS_MS, LATENCY_COLUMNS[:-1], strict=True)
    ]
    out.append({"gt_ms": LATENCY_BOUNDS_MS[-1], "count": int(sums.get(LATENCY_COLUMNS[-1], 0))})
    return out


def total(groups: Iterable[Sums]) -> dict[str, Any]:
    """The sums of several groups added up."""
    out: dict[str, Any] = {}
    with exact():
        for g in groups:
            plus(out, g)
    return out


def _rank(item: tuple[Any, Sums]) -> tuple[Any, ...]:
    key, sums = item
    return (-sums.get("credits", 0), -sums.get("requests", 0), str(key))


def ranked(by_value: Mapping[Any, Sums], limit: int) -> tuple[list[tuple[Any, Sums]], list[Any]]:
    """The `limit` groups that cost most (credits, then requests, then name), and the values of the others."""
    order = sorted(by_value.items(), key=_rank)
    return order[:limit], [key for key, _ in order[limit:]]


def breakdown(rows: Mapping[tuple[Any, ...], Sums], names: Sequence[str], name: str) -> dict[Any, dict[str, Any]]:
    """Sums per value of the dimension `name`, from sums grouped by `names` (which holds it)."""
    at = names.index(name)
    out: dict[Any, dict[str, Any]] = {}
    with exact():
        for key, sums in rows.items():
            plus(out.setdefault(key[at], {}), sums)
    return out


def bars(name: str, by_value: Mapping[Any, Sums], limit: int) -> dict[str, Any]:
    """A bar chart's data: the top groups of the dimension `name` with their figures, and the rest in one."""
    top, rest = ranked(by_value, limit)
    return {
        "group_by": name,
        "groups": [{name: value, "totals": figures(sums)} for value, sums in top],
        "rest": {"groups": len(rest), "totals": figures(total(by_value[v] for v in rest))} if rest else None,
    }


def point(sums: Sums | None) -> dict[str, Any]:
    """One bucket of a series (zeros for a bucket without calls)."""
    return as_json(
        {k: (sums or {}).get(k, Decimal(0) if k in ("credits", "cost_usd", "cost_inr") else 0) for k in POINT}
    )


def series(rows: Mapping[tuple[Any, ...], Sums], labels: Sequence[str], name: str | None, limit: int) -> dict[str, Any]:
    """A time series per group: `rows` are sums keyed by (bucket label,) or (bucket label, value of `name`);
    every label gets a point, zeros where no call was. The top `limit` groups by cost, the rest folded in one."""
    per_group: dict[Any, dict[str, dict[str, Any]]] = {}
    for key, sums in rows.items():
        label, value = key[0], (key[1] if name is not None else None)
        add_sums(per_group.setdefault(value, {}).setdefault(label, {}), sums)
    totals = {value: total(by_label.values()) for value, by_label in per_group.items()}
    top, rest = ranked(totals, limit)

    def drawn(by_labels: Sequence[Mapping[str, Sums]]) -> list[dict[str, Any]]:
        return [point(total(b[label] for b in by_labels if label in b)) for label in labels]

    groups = []
    for value, sums in top:
        entry = {name: value} if name is not None else {}
        groups.append(entry | {"totals": figures(sums), "points": drawn([per_group[value]])})
    folded = None
    if rest:
        folded = {
            "groups": len(rest),
            "totals": figures(total(totals[v] for v in rest)),
            "points": drawn([per_group[v] for v in rest]),
        }
    return {"group_by": name, "buckets": list(labels), "groups": groups, "rest": folded}
