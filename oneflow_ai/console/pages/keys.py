"""API keys: the list; create (name, role, limits, allowed models, budget, expiry), its secret shown once;
rotate; revoke. The same service as `/api/v1/admin/api-keys` (`identity.keys`), so the same role rules: owners
and admins manage the tenant's keys, a member their own, a viewer only reads (and sees no buttons).

The secret is in the answer to the POST alone (`Cache-Control: no-store`), never in a page that can be asked for
again: the page's script replaces the POST's URL in the history with the list's, so a reload shows the list.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from oneflow_ai.api.deps import IdentityDep, gateway
from oneflow_ai.api.identity_routes import source_ip
from oneflow_ai.auth.principal import Principal
from oneflow_ai.console.deps import Form, SignedIn
from oneflow_ai.console.forms import FormData, first_error
from oneflow_ai.console.grants import grantable, may_create_keys, may_manage_key
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.roles import Can, can
from oneflow_ai.identity.schemas import KeyCreate, KeyPublic
from oneflow_ai.identity.tables import now_utc

router = APIRouter()
PAGE = Page(router=router, title="API keys", path="/keys")
PER_PAGE = 50
GRACE_CHOICES = ((0, "none: the old secret stops now"), (3600, "1 hour"), (86400, "24 hours"), (7 * 86400, "7 days"))


def status_of(key: KeyPublic, now: datetime) -> str:
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    if key.grace_until is not None:
        return "retired" if key.grace_until <= now else "rotating"
    return "active"


async def _list_page(
    request: Request, p: Principal, identity: IdentityDep, offset: int, *, status: int = 200, **extra: Any
) -> Response:
    found = await identity.keys.list(p, user_id=None, limit=PER_PAGE + 1, offset=offset)
    now = now_utc()
    rows = [{"key": k, "status": status_of(k, now), "manage": may_manage_key(p, k)} for k in found[:PER_PAGE]]
    users, departments = [], []
    if can(p, Can.MANAGE_TENANT):
        users = await identity.directory.list_users(p, limit=1000, offset=0)
        departments = await identity.directory.list_departments(p)
    context = {
        "rows": rows,
        "offset": offset,
        "next_offset": offset + PER_PAGE if len(found) > PER_PAGE else None,
        "prev_offset": max(0, offset - PER_PAGE) if offset else None,
        "may_create": may_create_keys(p),
        "roles": grantable(p),
        "users": users,
        "departments": departments,
        "models": sorted((await gateway(request)).models),
        "grace_choices": GRACE_CHOICES,
        "form": {},
        "error": None,
        **extra,
    }
    return render(request, "keys.html", context, status=status)


@router.get("/keys")
async def keys_page(request: Request, p: SignedIn, identity: IdentityDep, offset: int = 0) -> Response:
    return await _list_page(request, p, identity, max(0, min(offset, 1_000_000)))


def key_create(form: FormData) -> KeyCreate:
    """The form's fields as the API's body (the same validation); blank fields are left out."""
    body: dict[str, Any] = {"name": form.optional("name") or "default", "role": form.get("role") or "member"}
    for field in ("rpm_limit", "tpm_limit", "rph_limit"):
        value = form.optional(field)
        if value is not None:
            body[field] = value
    for field in ("user_id", "department_id", "budget_id"):
        value = form.optional(field)
        if value is not None:
            body[field] = value
    models = [m.strip() for value in form.all("allowed_models") for m in value.replace("\n", ",").split(",")]
    if any(models):  # the list of the gateway's models and the free field both feed it
        body["allowed_models"] = list(dict.fromkeys(m for m in models if m))
    expires = form.optional("expires_on")
    if expires is not None:
        try:
            day = datetime.strptime(expires, "%Y-%m-%d").date()
        except ValueError:
            raise InvalidRequest("'expires on' must be a date (YYYY-MM-DD).", param="expires_on") from None
        body["expires_at"] = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    return KeyCreate.model_validate(body)


@router.post("/keys")
async def create_key(request: Request, p: SignedIn, form: Form, identity: IdentityDep) -> Response:
    try:
        body = key_create(form)
    except ValidationError as e:
        return await _list_page(request, p, identity, 0, error=first_error(e), form=dict(form.fields), status=400)
    created = await identity.keys.create(p, body, Actor(p, source_ip(request)))
    return render(request, "key_created.html", {"key": created, "action": "created"}, status=201)


@router.post("/keys/{key_id}/rotate")
async def rotate_key(request: Request, key_id: str, p: SignedIn, form: Form, identity: IdentityDep) -> Response:
    try:
        grace = int(form.get("grace_period_s") or 86400)
    except ValueError:
        raise InvalidRequest("The grace period must be a number of seconds.") from None
    if not 0 <= grace <= 30 * 86400:
        raise InvalidRequest("The grace period must be between 0 and 30 days.")
    created = await identity.keys.rotate(p, key_id, grace, Actor(p, source_ip(request)))
    return render(request, "key_created.html", {"key": created, "action": "rotated"}, status=201)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, p: SignedIn, form: Form, identity: IdentityDep) -> Response:
    await identity.keys.revoke(p, key_id, Actor(p, source_ip(request)))
    return RedirectResponse("/ui/keys", status_code=303)
