"""Dependencies shared by route handlers (FastAPI `Annotated` style)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import PermissionDenied
from oneflow_ai.gateway.runtime import Gateway


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.state.gateway
    return gw


async def caller(request: Request) -> Principal:
    headers = request.headers
    return await gateway(request).auth.authenticate(headers.get("authorization"), headers.get("x-api-key"))


async def admin(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    """Admin endpoints: the master key (roles and tenants refine this in the identity module)."""
    if not principal.is_admin:
        raise PermissionDenied("This endpoint needs an admin key.")
    return principal


GatewayDep = Annotated[Gateway, Depends(gateway)]
CallerDep = Annotated[Principal, Depends(caller)]
AdminDep = Annotated[Principal, Depends(admin)]
