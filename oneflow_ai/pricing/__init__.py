"""The pure pricing core: the price catalog, exact costs in dollars and credits, and token counting.

No I/O beyond reading the shipped catalog file (and the tokenizer's bundled data, once); no globals.
"""

from oneflow_ai.pricing.catalog import CatalogError, ModelPrice, PriceCatalog, UnknownModelPrice
from oneflow_ai.pricing.deployments import DeploymentPrices
from oneflow_ai.pricing.engine import Cost, PricingEngine, decimal_str, to_cents
from oneflow_ai.pricing.tokens import TokenCounter

__all__ = [
    "CatalogError",
    "Cost",
    "DeploymentPrices",
    "ModelPrice",
    "PriceCatalog",
    "PricingEngine",
    "TokenCounter",
    "UnknownModelPrice",
    "decimal_str",
    "to_cents",
]
