"""Users and sessions, tenants and departments: `/api/v1/admin/auth/*`, `/users`, `/tenants`, `/departments`.

Handlers are thin: parse, call one `identity` service, serialize. Access rules live in `identity.roles`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from oneflow_ai.api.deps import AdminDep, ConsoleDep, IdentityDep, console
from oneflow_ai.api.paging import Cursor, by_time, time_page
from oneflow_ai.api.schemas import ERRORS, ErrorBody, error_response
from oneflow_ai.identity.audit import Actor
from oneflow_ai.identity.roles import is_superuser
from oneflow_ai.identity.schemas import (
    DepartmentCreate,
    DepartmentPublic,
    Login,
    Logout,
    Page,
    Refresh,
    Register,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
    TokenPair,
    UserPublic,
    UserUpdate,
)

RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    **{
        status: error_response(ErrorBody, text)
        for status, text in {
            401: "Missing or invalid credentials",
            403: "Your role may not do this",
            404: "No such object (or it belongs to another tenant)",
            409: "Already exists; or it would leave a tenant without an active owner",
            429: "Too many failed logins on the account, or login attempts from your address",
        }.items()
    },
}
router = APIRouter(prefix="/admin", tags=["Identity"], responses=RESPONSES)

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="kept for older clients; prefer `cursor`")]


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post(
    "/auth/register", status_code=201, summary="Register a user (an admin adds one; open sign-up founds a tenant)"
)
async def register(body: Register, request: Request, identity: IdentityDep) -> UserPublic:
    headers = request.headers
    caller = await console(request) if headers.get("authorization") or headers.get("x-api-key") else None
    return await identity.accounts.register(body, Actor(caller, source_ip(request)))


@router.post("/auth/login", summary="Log in: an access token (JWT) and a refresh token")
async def login(body: Login, request: Request, identity: IdentityDep) -> TokenPair:
    return await identity.accounts.login(body, source_ip(request))


@router.post("/auth/refresh", summary="Trade a refresh token for a new pair (each refresh token works once)")
async def refresh(body: Refresh, request: Request, identity: IdentityDep) -> TokenPair:
    return await identity.accounts.refresh(body.refresh_token, source_ip(request))


@router.post("/auth/logout", status_code=204, summary="End the session (its access and refresh tokens stop working)")
async def logout(
    p: ConsoleDep, request: Request, identity: IdentityDep, body: Annotated[Logout | None, Body()] = None
) -> None:
    token = body.refresh_token if body else None
    await identity.accounts.logout(p, token, Actor(p, source_ip(request)))


@router.get("/auth/me", summary="Who the credential belongs to")
async def me(p: ConsoleDep) -> dict[str, Any]:
    return {
        "object": "principal",
        "key_id": p.key_id,
        "user_id": p.user_id,
        "tenant_id": p.tenant_id,
        "department_id": p.department_id,
        "role": "superuser" if is_superuser(p) else p.role,
    }


@router.post("/auth/signing-keys/rotate", summary="Rotate the JWT signing key (master key; generated keyrings)")
async def rotate_signing_key(_: AdminDep, identity: IdentityDep) -> dict[str, str]:
    return {"kid": identity.rotate_signing_key()}


@router.get("/users", summary="The tenant's users, oldest first (`?cursor=`, or `?offset=`)")
async def list_users(
    p: ConsoleDep, identity: IdentityDep, limit: Limit = 100, offset: Offset = 0, cursor: Cursor = None
) -> Page[UserPublic]:
    found = await identity.directory.list_users(p, limit=limit + 1, offset=offset, after=by_time(cursor))
    return time_page(found, limit)


@router.get("/users/{user_id}", summary="One user")
async def get_user(user_id: str, p: ConsoleDep, identity: IdentityDep) -> UserPublic:
    return await identity.directory.get_user(p, user_id)


@router.patch(
    "/users/{user_id}", summary="Change a user's name, role, department or limits; unlock, disable or enable them"
)
async def update_user(
    user_id: str, body: UserUpdate, p: ConsoleDep, request: Request, identity: IdentityDep
) -> UserPublic:
    return await identity.directory.update_user(p, user_id, body, Actor(p, source_ip(request)))


@router.delete("/users/{user_id}", status_code=204, summary="Delete a user: their sessions and keys are revoked")
async def delete_user(user_id: str, p: ConsoleDep, request: Request, identity: IdentityDep) -> None:
    await identity.directory.delete_user(p, user_id, Actor(p, source_ip(request)))


@router.post("/tenants", status_code=201, summary="Create a tenant (master key)")
async def create_tenant(body: TenantCreate, p: ConsoleDep, request: Request, identity: IdentityDep) -> TenantPublic:
    return await identity.directory.create_tenant(p, body, Actor(p, source_ip(request)))


@router.get("/tenants", summary="Tenants (your own; every one for the master key)")
async def list_tenants(p: ConsoleDep, identity: IdentityDep) -> Page[TenantPublic]:
    return Page(data=await identity.directory.list_tenants(p))


@router.get("/tenants/{tenant_id}", summary="One tenant")
async def get_tenant(tenant_id: str, p: ConsoleDep, identity: IdentityDep) -> TenantPublic:
    return await identity.directory.get_tenant(p, tenant_id)


@router.patch("/tenants/{tenant_id}", summary="Rename a tenant; change its limits (master key)")
async def update_tenant(
    tenant_id: str, body: TenantUpdate, p: ConsoleDep, request: Request, identity: IdentityDep
) -> TenantPublic:
    return await identity.directory.update_tenant(p, tenant_id, body, Actor(p, source_ip(request)))


@router.post("/departments", status_code=201, summary="Create a department")
async def create_department(
    body: DepartmentCreate, p: ConsoleDep, request: Request, identity: IdentityDep
) -> DepartmentPublic:
    return await identity.directory.create_department(p, body, Actor(p, source_ip(request)))


@router.get("/departments", summary="The tenant's departments")
async def list_departments(p: ConsoleDep, identity: IdentityDep) -> Page[DepartmentPublic]:
    return Page(data=await identity.directory.list_departments(p))
