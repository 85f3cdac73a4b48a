"""Users, departments and roles: list; create a user or a department; change a user's role; disable or enable a
user. The same services as `/api/v1/admin/users` and `/departments` (`identity.directory`, `identity.accounts`),
so the same rules: owners and admins manage, viewers read, members do not see the page; an admin does not
touch an owner, nobody disables themselves, a tenant keeps an active owner. Disabling a user or changing their
role ends their sessions (the console's too).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from oneflow_ai.api.deps import IdentityDep
from oneflow_ai.api.identity_routes import source_ip
from oneflow_ai.console.deps import Form, SignedIn
from oneflow_ai.console.forms import first_error
from oneflow_ai.console.grants import grantable, may_change_user
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.roles import GRANTS, RANK, ROLES, Can, can, require
from oneflow_ai.identity.schemas import DepartmentCreate, Register, UserUpdate

router = APIRouter()
PAGE = Page(router=router, title="Users", path="/users", visible=lambda p: can(p, Can.READ_TENANT))
PER_PAGE = 100


@router.get("/users")
async def users_page(request: Request, p: SignedIn, identity: IdentityDep, offset: int = 0) -> Response:
    require(p, Can.READ_TENANT)
    offset = max(0, min(offset, 1_000_000))
    found = await identity.directory.list_users(p, limit=PER_PAGE + 1, offset=offset)
    departments = await identity.directory.list_departments(p)
    names = {d.id: d.name for d in departments}
    context = {
        "rows": [
            {"user": u, "change": may_change_user(p, u), "department": names.get(u.department_id or "")}
            for u in found[:PER_PAGE]
        ],
        "departments": departments,
        "next_offset": offset + PER_PAGE if len(found) > PER_PAGE else None,
        "prev_offset": max(0, offset - PER_PAGE) if offset else None,
        "roles": grantable(p),
        "role_table": [
            (role, [c.value for c in Can if c in GRANTS[role]])
            for role in sorted(ROLES, key=lambda r: RANK[r], reverse=True)
        ],
        "capabilities": [c.value for c in Can],
    }
    return render(request, "users.html", context)


@router.post("/users")
async def create_user(request: Request, p: SignedIn, form: Form, identity: IdentityDep) -> Response:
    try:
        body = Register.model_validate(
            {
                "name": form.get("name").strip(),
                "email": form.get("email").strip(),
                "password": form.get("password"),
                "role": form.get("role") or "member",
                **({"department_id": form.optional("department_id")} if form.optional("department_id") else {}),
            }
        )
    except ValidationError as e:
        raise InvalidRequest(first_error(e)) from None
    await identity.accounts.register(body, Actor(p, source_ip(request)))
    return RedirectResponse("/ui/users", status_code=303)


@router.post("/users/{user_id}/role")
async def change_role(request: Request, user_id: str, p: SignedIn, form: Form, identity: IdentityDep) -> Response:
    try:
        body = UserUpdate.model_validate({"role": form.get("role")})
    except ValidationError as e:
        raise InvalidRequest(first_error(e)) from None
    await identity.directory.update_user(p, user_id, body, Actor(p, source_ip(request)))
    return RedirectResponse("/ui/users", status_code=303)


@router.post("/users/{user_id}/disable")
async def disable_user(request: Request, user_id: str, p: SignedIn, form: Form, identity: IdentityDep) -> Response:
    await identity.directory.update_user(p, user_id, UserUpdate(disabled=True), Actor(p, source_ip(request)))
    return RedirectResponse("/ui/users", status_code=303)


@router.post("/users/{user_id}/enable")
async def enable_user(request: Request, user_id: str, p: SignedIn, form: Form, identity: IdentityDep) -> Response:
    await identity.directory.update_user(p, user_id, UserUpdate(disabled=False), Actor(p, source_ip(request)))
    return RedirectResponse("/ui/users", status_code=303)


@router.post("/departments")
async def create_department(request: Request, p: SignedIn, form: Form, identity: IdentityDep) -> Response:
    try:
        body = DepartmentCreate.model_validate({"name": form.get("name").strip()})
    except ValidationError as e:
        raise InvalidRequest(first_error(e)) from None
    await identity.directory.create_department(p, body, Actor(p, source_ip(request)))
    return RedirectResponse("/ui/users", status_code=303)
