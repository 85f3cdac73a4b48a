"""The request log: recent calls read from the ledger (`usage_records`), newest first, one page at a time.

Each entry is what the ledger keeps of a call: its request id and time, the model asked for and the one that
served it, provider, key, user, status, tokens, cost (USD, credits), latency and time to first token, the
cache's and the guardrails' outcome, and its experiment and variant. The gateway stores no prompt or answer
text anywhere (a ledger record has no column for it, and a guardrail outcome names policies and entity types,
never a matched value), so the request log never shows a prompt.

Pages are ordered by (`created_at`, `request_id`), newest first, and continue from an opaque cursor (the last
entry's pair: `store.cursor`), so calls written while a client pages never shift what it sees. A tenant's
page is `tenant_id = ? AND created_at <= ? ... ORDER BY created_at DESC, request_id DESC LIMIT n`: an index scan
backwards, on `ix_usage_records_tenant_created` (migration 0010) or, for a tenant with a large share of the
calls, on `ix_usage_records_created_at` (the planner's choice; measured on PostgreSQL, 200,000 records of 50
tenants: 0.6 ms a page, first or deep), with an incremental sort on `request_id` for ties only.

`statement` is pure (values in, a query out); `page` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.auth.principal import Principal
from oneflow_ai.billing.repository import utc
from oneflow_ai.errors import PermissionDenied
from oneflow_ai.identity.roles import confine, own_calls
from oneflow_ai.pricing import decimal_str
from oneflow_ai.store import cursor
from oneflow_ai.store.aggregates import sqlite_money
from oneflow_ai.store.tables import usage_records

GuardrailFilter = Literal["any", "none", "block", "redact", "mask", "warn", "log"]
GUARDRAIL_FILTERS: tuple[str, ...] = ("any", "none", "block", "redact", "mask", "warn", "log")
ERROR = "error"
"""`status=error` is every call whose ledger status is not `ok` (`rejected`, `upstream_error`, `cut`,
`interrupted`); any other value is matched as the ledger writes it."""

COLUMNS = (
    "request_id",
    "created_at",
    "endpoint",
    "requested_model",
    "served_model",
    "provider",
    "deployment_id",
    "key_id",
    "user_id",
    "end_user",
    "department_id",
    "tenant_id",
    "status",
    "http_status",
    "attempts",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "unit",
    "quantity",
    "cost_usd",
    "credits",
    "saved_usd",
    "latency_ms",
    "ttft_ms",
    "streamed",
    "cache_hit",
    "cache_kind",
    "guardrail",
    "guardrail_action",
    "experiment",
    "variant",
)
MONEY = ("cost_usd", "credits", "saved_usd")


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """What the log is narrowed to; None is no condition. `model` matches the model asked for or the one that
    served; `until` is exclusive, `since` inclusive."""

    tenant: str | None = None
    """The tenant whose calls are read; None: every tenant's (the master key's view only, see `confined`)."""
    model: str | None = None
    key_id: str | None = None
    user_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cache_hit: bool | None = None
    guardrail: GuardrailFilter | None = None
    experiment: str | None = None


def confined(p: Principal, f: RequestFilter) -> RequestFilter:
    """`f` confined to what `p` may read (`identity.roles`): its tenant (the master key: `f.tenant`, None for
    every tenant; another tenant named answers 404) and, for a member, its own calls (another user's: 403)."""
    mine = own_calls(p)
    if mine is not None and f.user_id not in (None, mine):
        raise PermissionDenied("Your role (member) may read your own calls only.")
    return replace(f, tenant=confine(p, f.tenant), user_id=mine or f.user_id)


def statement(f: RequestFilter, limit: int, after: tuple[datetime, str] | None = None) -> Select[Any]:
    """The newest `limit` calls matching `f`, strictly older than the entry `after` (its time and request id)."""
    c = usage_records.c
    query = select(*(c[name] for name in COLUMNS)).order_by(c.created_at.desc(), c.request_id.desc()).limit(limit)
    where: list[Any] = []
    if f.tenant is not None:
        where.append(c.tenant_id == f.tenant)
    if f.model is not None:
        where.append(or_(c.requested_model == f.model, c.served_model == f.model))
    for column, value in ((c.key_id, f.key_id), (c.user_id, f.user_id), (c.experiment, f.experiment)):
        if value is not None:
            where.append(column == value)
    if f.status == ERROR:
        where.append(c.status != "ok")
    elif f.status is not None:
        where.append(c.status == f.status)
    if f.since is not None:
        where.append(c.created_at >= f.since.astimezone(UTC))  # UTC: SQLite compares the text
    if f.until is not None:
        where.append(c.created_at < f.until.astimezone(UTC))
    if f.cache_hit is not None:
        where.append(c.cache_hit == f.cache_hit)
    if f.guardrail == "any":
        where.append(c.guardrail_action.is_not(None))
    elif f.guardrail == "none":
        where.append(c.guardrail_action.is_(None))
    elif f.guardrail is not None:
        where.append(c.guardrail_action == f.guardrail)
    if after is not None:
        where.append(cursor.after([c.created_at, c.request_id], after, descending=True))
    return query.where(*where) if where else query.where(true())


CURSOR_KINDS: tuple[cursor.Kind, ...] = ("time", "str")


async def page(
    engine: AsyncEngine, f: RequestFilter, *, limit: int, after: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """(entries as JSON-ready dicts, the next page's cursor or None at the end)."""
    position = cursor.decode(after, CURSOR_KINDS) if after is not None else None
    query = statement(f, limit + 1, (position[0], position[1]) if position is not None else None)
    async with engine.connect() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    sqlite = engine.dialect.name == "sqlite"
    data = [public(r, sqlite) for r in rows]
    next_cursor = cursor.encode([utc(rows[-1]["created_at"]), rows[-1]["request_id"]]) if more else None
    return data, next_cursor


def public(row: Mapping[str, Any], sqlite: bool) -> dict[str, Any]:
    """One entry as the API and console show it: money as exact decimal strings (SQLite's floats read back as
    the decimals they stand for), times in ISO 8601 UTC."""
    out = {name: row[name] for name in COLUMNS}
    out["object"] = "request"
    out["created_at"] = utc(row["created_at"]).isoformat()
    for name in MONEY:
        value = row[name]
        out[name] = decimal_str(sqlite_money(value) if sqlite else Decimal(value or 0))
    out["quantity"] = decimal_str(Decimal(str(row["quantity"] or 0)).normalize())
    out["cache_hit"] = bool(row["cache_hit"])
    out["streamed"] = bool(row["streamed"])
    return out
