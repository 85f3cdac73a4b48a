"""OneFlow: a self-hosted, OpenAI-compatible AI gateway.

The Python API: `PricingEngine` (exact costs), `IntelligentRouter` with `RoutingStrategy` (which model for a
request), and `ResilientHTTPClient` (an upstream called with retries, backoff and a circuit breaker).
"""

__version__ = "0.1.0"

from oneflow_ai.store import asyncio_sessions

asyncio_sessions.defer()  # before any of our modules imports SQLAlchemy's asyncio extension: its ORM on first use

from oneflow_ai.pricing import PricingEngine  # noqa: E402
from oneflow_ai.routing.intelligent import IntelligentRouter, RoutingDecision  # noqa: E402
from oneflow_ai.routing.profile import Modality, ModelProfile  # noqa: E402
from oneflow_ai.routing.strategy import RoutingStrategy  # noqa: E402
from oneflow_ai.upstream.resilient import HTTPResult, ResilientHTTPClient  # noqa: E402

__all__ = [
    "HTTPResult",
    "IntelligentRouter",
    "Modality",
    "ModelProfile",
    "PricingEngine",
    "ResilientHTTPClient",
    "RoutingDecision",
    "RoutingStrategy",
    "__version__",
]
