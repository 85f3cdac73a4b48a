"""`GET /metrics` (Prometheus) and `GET /api/v1/admin/features/status` (what this gateway has switched on)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from oneflow_ai import __version__
from oneflow_ai.api.deps import AdminDep, GatewayDep
from oneflow_ai.api.schemas import ERRORS
from oneflow_ai.errors import NotFound
from oneflow_ai.observability.runtime import Observability

metrics_router = APIRouter(include_in_schema=False)
router = APIRouter(tags=["Admin"], responses={k: v for k, v in ERRORS.items() if k in (400, 401, 403, 413)})


@metrics_router.get("/metrics")
async def metrics(request: Request) -> Response:
    obs: Observability | None = getattr(request.state, "observability", None)
    if obs is None:
        raise NotFound("Metrics are not available.")
    body, content_type = obs.metrics.render()
    return Response(body, media_type=content_type)


class Feature(BaseModel):
    enabled: bool
    detail: dict[str, Any] = {}


class FeatureStatus(BaseModel):
    version: str
    providers: dict[str, list[str]]
    """Each configured provider, with the public models it serves."""
    database: str
    redis: Feature
    metrics: Feature
    tracing: Feature
    caching: Feature
    budgets: Feature
    rate_limits: Feature
    idempotency: Feature
    cors: Feature
    admission: list[str]
    observers: list[str]


@router.get("/admin/features/status", response_model=FeatureStatus, summary="What this gateway has switched on")
async def features_status(_: AdminDep, gw: GatewayDep, request: Request) -> FeatureStatus:
    obs: Observability = request.state.observability
    s = obs.settings
    providers: dict[str, list[str]] = {}
    for group in gw.config.models:
        for provider in sorted({d.provider for d in group.deployments}):
            providers.setdefault(provider, []).append(group.name)
    admission = [type(a).__name__ for a in gw.admission]
    return FeatureStatus(
        version=__version__,
        providers=providers,
        database=gw.engine.dialect.name,
        redis=Feature(enabled=gw.redis is not None),
        metrics=Feature(
            enabled=True,
            detail={"multiprocess": obs.metrics.shared is not None, "per_key_labels": s.metrics_per_key},
        ),
        tracing=Feature(enabled=obs.tracing is not None, detail={"endpoint": s.otel_endpoint} if obs.tracing else {}),
        caching=Feature(enabled=False),
        budgets=Feature(enabled=any("budget" in name.lower() for name in admission)),
        rate_limits=Feature(enabled=any("limit" in name.lower() for name in admission)),
        idempotency=Feature(enabled=True, detail={"store": obs.idempotency.kind, "ttl_s": s.idempotency_ttl_s}),
        cors=Feature(enabled=bool(s.cors_origins), detail={"origins": list(s.cors_origins)}),
        admission=admission,
        observers=[type(o).__name__ for o in gw.observers.all],
    )
