"""The secrets admin API: `POST /api/v1/admin/secrets/reload` reads the configuration's secret references again
(`file:`, `vault:`, `aws-sm:`) and uses the new values from the next call, without a restart. Per process, as the
price catalog's reload: with several workers or replicas, each is asked (or restarted)."""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from oneflow_ai.api.deps import AdminDep, GatewayDep
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.config.secrets import SecretError
from oneflow_ai.config.secrets.rotation import read_again
from oneflow_ai.errors import InvalidRequest

router = APIRouter(prefix="/admin/secrets", tags=["Secrets"], responses=ERRORS)


@router.post("/reload", summary="Read the secret references again; one that cannot be read is refused (400), old kept")
async def reload_secrets(gw: GatewayDep, _: AdminDep) -> Response:
    try:
        values = await asyncio.to_thread(read_again, gw.deployments(), gw.environ)
        gw.swap_secrets(values)
    except SecretError as e:  # names the reference, never a value
        raise InvalidRequest(f"secret not read: {e}") from None
    return JSONBytes(orjson.dumps({"object": "secrets.reload", "references": len(values)}))
