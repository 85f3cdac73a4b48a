"""OneFlow: a self-hosted, OpenAI-compatible AI gateway.

The Python API: `PricingEngine` (exact costs), `IntelligentRouter` with `RoutingStrategy` (which model for a
request), and `ResilientHTTPClient` (an upstream called with retries, backoff and a circuit breaker).
"""

__version__ = "0.1.0"

from oneflow_ai.pricing import PricingEngine
from oneflow_ai.routing.intelligent import IntelligentRouter, RoutingDecision
from oneflow_ai.routing.profile import Modality, ModelProfile
from oneflow_ai.routing.strategy import RoutingStrategy
from oneflow_ai.upstream.resilient import HTTPResult, ResilientHTTPClient

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
