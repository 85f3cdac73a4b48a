"""The pricing admin API: `/api/v1/admin/pricing`. Shows the catalog in use and reloads it without a restart."""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from oneflow_ai.api.deps import AdminDep, GatewayDep
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.pricing import CatalogError, PriceCatalog

router = APIRouter(prefix="/admin/pricing", tags=["Pricing"], responses=ERRORS)


def _summary(gw: Gateway) -> Response:
    catalog = gw.pricing.catalog
    body = {"prices_as_of": catalog.prices_as_of.isoformat(), "models": len(catalog)}
    return JSONBytes(orjson.dumps(body))


@router.get("", summary="The price catalog in use: its date and how many models it prices")
async def get_pricing(gw: GatewayDep, _: AdminDep) -> Response:
    return _summary(gw)


@router.post("/reload", summary="Re-read the price catalog file; a malformed file is refused (400), old prices kept")
async def reload_pricing(gw: GatewayDep, _: AdminDep) -> Response:
    try:
        catalog = await asyncio.to_thread(PriceCatalog.load, gw.price_catalog)
    except CatalogError as e:
        raise InvalidRequest(str(e)) from None
    gw.reload_prices(catalog)
    return _summary(gw)
