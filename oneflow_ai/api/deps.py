"""Dependencies shared by route handlers (FastAPI `Annotated` style).

Every dependency is `async def`, even one that only reads `request.state`: FastAPI runs a plain `def` dependency
in AnyIO's thread pool, so the first admin call would start a worker thread (~0.7 MiB of a worker's RSS) for a
dictionary lookup, and every call would pay two thread hand-offs for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import PermissionDenied
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.identity.roles import is_superuser
from oneflow_ai.identity.service import Identity


async def gateway(request: Request) -> Gateway:
    gw: Gateway = request.state.gateway
    return gw


async def caller(request: Request) -> Principal:
    headers = request.headers
    gw = await gateway(request)
    return await gw.auth.authenticate(headers.get("authorization"), headers.get("x-api-key"))


async def identity(request: Request) -> Identity:
    found: Identity = request.state.identity
    return found


async def console(request: Request) -> Principal:
    """Anyone signed in to the admin API: a user's access token (JWT), the master key or a virtual key.
    The endpoint checks what the caller's role may do (`identity.roles`) and confines it to its tenant."""
    headers = request.headers
    found = await identity(request)
    return await found.admin_principal(headers.get("authorization"), headers.get("x-api-key"))


async def tenant_admin(principal: Annotated[Principal, Depends(console)]) -> Principal:
    """A tenant's owners and admins, and the superuser. The endpoint must confine itself to
    `identity.roles.scope(principal)` (None only for the superuser)."""
    if not (is_superuser(principal) or principal.role in ("owner", "admin")):
        raise PermissionDenied("This endpoint needs an owner or admin of the tenant.")
    return principal


async def admin(principal: Annotated[Principal, Depends(console)]) -> Principal:
    """Endpoints that are not tenant-aware (they see every tenant's data): the superuser (master key) only.
    An endpoint that scopes its queries by the caller's tenant can use `TenantAdminDep` instead."""
    if not is_superuser(principal):
        raise PermissionDenied("This endpoint needs the master key.")
    return principal


GatewayDep = Annotated[Gateway, Depends(gateway)]
CallerDep = Annotated[Principal, Depends(caller)]
AdminDep = Annotated[Principal, Depends(admin)]
TenantAdminDep = Annotated[Principal, Depends(tenant_admin)]
ConsoleDep = Annotated[Principal, Depends(console)]
IdentityDep = Annotated[Identity, Depends(identity)]
