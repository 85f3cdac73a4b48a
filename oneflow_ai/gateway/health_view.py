"""Each deployment's live health and circuit breaker, read from a running gateway, as JSON for people: what
`GET /api/v1/admin/routing/health` answers and the console's provider page shows. The deployments serve every
tenant, so the report is the same whoever reads it."""

from __future__ import annotations

import time
from typing import Any

from oneflow_ai.gateway.routing_report import health_report
from oneflow_ai.gateway.runtime import Gateway


def routing_health(gw: Gateway) -> dict[str, Any]:
    r = gw.routing
    # breakers under event reports (`events.breakers`) say whether the store beneath them is shared
    shared = bool(getattr(gw.breakers, "shared", gw.breakers is not None))
    deployments = health_report(
        list({g.name: g for g in gw.models.values()}.values()),
        r.health.view(),
        r.breakers.view(),
        r.policy,
        r.clock(),
        time.time(),
    )
    return {"shared": shared, "strategy": r.settings.strategy, "deployments": deployments}
