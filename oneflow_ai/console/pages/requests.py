"""The request log: recent calls, newest first, filtered (model, key, user, status, cache, guardrail, time), a page
at a time by the cursor. The same reader as `GET /api/v1/admin/requests` (`billing.request_log`), confined the same
way: a tenant's owners, admins and viewers see its calls, a member its own, the master key every tenant's. No
prompt text: the gateway stores none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from oneflow_ai.api.deps import GatewayDep
from oneflow_ai.auth.principal import Principal
from oneflow_ai.billing import request_log
from oneflow_ai.billing.request_log import GUARDRAIL_FILTERS, GuardrailFilter, RequestFilter, confined
from oneflow_ai.console.deps import SignedIn
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity.roles import Can, can

router = APIRouter()


def reads_calls(p: Principal) -> bool:
    return can(p, Can.READ_TENANT) or can(p, Can.READ_OWN_USAGE)


PAGE = Page(router=router, title="Requests", path="/requests", visible=reads_calls)
PER_PAGE = 50
FILTERS = ("model", "key_id", "user_id", "status", "cache", "guardrail", "since", "until")
Field = Annotated[str | None, Query(max_length=128)]


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    if "\x00" in value:
        raise InvalidRequest("A filter must not contain NUL characters.")
    return value or None


def _day(value: str | None, name: str) -> datetime | None:
    """A `datetime-local` field's value (the browser's `YYYY-MM-DDTHH:MM`), read as UTC."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be a time like 2030-01-31T09:00.", param=name) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def request_filter(values: dict[str, str | None]) -> RequestFilter:
    """The page's form fields as the request log's filter (blank fields are no condition)."""
    guardrail = values["guardrail"]
    if guardrail is not None and guardrail not in GUARDRAIL_FILTERS:
        raise InvalidRequest(f"'guardrail' is one of {', '.join(GUARDRAIL_FILTERS)}.", param="guardrail")
    cache = values["cache"]
    if cache not in (None, "hit", "miss"):
        raise InvalidRequest("'cache' is hit or miss.", param="cache")
    return RequestFilter(
        model=values["model"],
        key_id=values["key_id"],
        user_id=values["user_id"],
        status=values["status"],
        since=_day(values["since"], "since"),
        until=_day(values["until"], "until"),
        cache_hit=None if cache is None else cache == "hit",
        guardrail=cast(GuardrailFilter | None, guardrail),
    )


@router.get("/requests")
async def requests_page(
    request: Request,
    p: SignedIn,
    gw: GatewayDep,
    model: Field = None,
    key_id: Field = None,
    user_id: Field = None,
    status: Field = None,
    cache: Field = None,
    guardrail: Field = None,
    since: Field = None,
    until: Field = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    raw = {
        "model": model,
        "key_id": key_id,
        "user_id": user_id,
        "status": status,
        "cache": cache,
        "guardrail": guardrail,
        "since": since,
        "until": until,
    }
    values = {k: _blank(v) for k, v in raw.items()}
    wanted = confined(p, request_filter(values))
    rows, next_cursor = await request_log.page(gw.engine, wanted, limit=PER_PAGE, after=_blank(cursor))
    kept = {k: v for k, v in values.items() if v is not None}
    context: dict[str, Any] = {
        "rows": rows,
        "filters": {k: values[k] or "" for k in FILTERS},
        "guardrail_choices": GUARDRAIL_FILTERS,
        "next_href": "/ui/requests?" + urlencode({**kept, "cursor": next_cursor}) if next_cursor else None,
        "first_href": "/ui/requests?" + urlencode(kept) if cursor else None,
        "all_tenants": wanted.tenant is None,
        "own_only": wanted.user_id is not None and not can(p, Can.READ_TENANT),
    }
    return render(request, "requests.html", context)
