"""The label children of `http_requests_total` and `http_request_duration_seconds` (`api.edge` observes them).

The route label is the matched route's template (`/v1/models/{model_id}`), never the raw path; a request no
route matched is `unmatched`. The label children are bound once per (method, route, status) and kept, so a
request costs two dict lookups, one counter increment and one histogram observation.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import Scope

from oneflow_ai.observability.metrics import Metrics

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RouteChildren:
    """The label children of one (method, route)."""

    __slots__ = ("_counter", "_labels", "_statuses", "duration")

    def __init__(self, counter: Counter, duration: Histogram, method: str, route: str) -> None:
        self._counter = counter
        self._labels = (method, route)
        self._statuses: dict[int, Any] = {}
        self.duration = duration.labels(method, route)

    def counter(self, status: int) -> Any:
        child = self._statuses.get(status)
        if child is None:
            child = self._statuses[status] = self._counter.labels(*self._labels, str(status))
        return child


def children(metrics: Metrics, scope: Scope) -> RouteChildren:
    method = scope["method"] if scope["method"] in METHODS else "OTHER"
    route = route_template(scope)
    table = metrics.http_children
    found = table.get((method, route))
    if found is None:
        found = table[(method, route)] = RouteChildren(metrics.http_requests, metrics.http_duration, method, route)
    return found


def route_template(scope: Scope) -> str:
    """The matched route's template with the prefix it was mounted under (`/api/v1/models/{model_id}`).

    A layer that answers before routing may name the route itself in `scope["oneflow.route"]`.
    """
    named = scope.get("oneflow.route")
    if named is not None:
        return str(named)
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return "unmatched"
    filled = template
    for name, value in (scope.get("path_params") or {}).items():
        filled = filled.replace("{" + name + "}", str(value))
    path: str = scope["path"]
    return path[: len(path) - len(filled)] + template if path.endswith(filled) else str(template)
