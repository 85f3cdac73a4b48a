"""Each deployment's price: its config override over the catalog's price of its upstream model.

Built once from a catalog and the configured deployments (at start-up, and again on a catalog reload), then
read per request by accounting and cost-aware routing: one dict lookup, nothing parsed or merged per call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from oneflow_ai.pricing.catalog import Mode, ModelPrice, PriceCatalog

if TYPE_CHECKING:
    from oneflow_ai.config.schema import Deployment, PriceOverride

D = TypeVar("D", Decimal, Decimal | None)


class DeploymentPrices:
    """Deployment id -> its `ModelPrice` (None: no price, recorded at zero cost)."""

    def __init__(self, catalog: PriceCatalog, deployments: Iterable[Deployment]) -> None:
        self.catalog = catalog
        self._by_id = {d.id: price_of(catalog, d) for d in deployments}
        self._rates = {i: _rates(p) for i, p in self._by_id.items()}

    def get(self, deployment: Deployment) -> ModelPrice | None:
        """The deployment's price; one not known at build time is priced like one (e.g. a request's own)."""
        if deployment.id in self._by_id:
            return self._by_id[deployment.id]
        return price_of(self.catalog, deployment)

    def rates(self, deployment: Deployment) -> tuple[Decimal, Decimal] | None:
        """The deployment's (input, output) price per token; None when it has no price."""
        if deployment.id in self._rates:
            return self._rates[deployment.id]
        return _rates(price_of(self.catalog, deployment))


def price_of(catalog: PriceCatalog, deployment: Deployment) -> ModelPrice | None:
    """The catalog's price of the deployment's upstream model with its `price` override applied; a model the
    catalog does not know is priced from a full override (input and output, or a media model's per-unit price),
    else it has no price."""
    base = catalog.get(deployment.model)
    o = deployment.price
    if o is None:
        return base
    if base is None:
        mode = _mode(o)
        if mode is None:
            return None
        base = ModelPrice(
            name=deployment.model,
            provider=deployment.provider,
            mode=mode,
            input_per_token=Decimal(0),
            output_per_token=Decimal(0),
            cached_input_per_token=None,
            per_image=None,
            per_second=None,
            per_character=None,
            context_window=deployment.context_window or 0,
            max_output_tokens=0,
            supports_tools=False,
            supports_vision=False,
            quality=deployment.quality if deployment.quality is not None else 0.5,
        )
    return _overridden(base, o)


def _rates(p: ModelPrice | None) -> tuple[Decimal, Decimal] | None:
    return None if p is None else (p.input_per_token, p.output_per_token)


def _overridden(base: ModelPrice, o: PriceOverride) -> ModelPrice:
    return replace(
        base,
        input_per_token=_per_token(o.input_per_million, base.input_per_token),
        output_per_token=_per_token(o.output_per_million, base.output_per_token),
        cached_input_per_token=_per_token(o.cached_input_per_million, base.cached_input_per_token),
        per_image=base.per_image if o.per_image is None else o.per_image,
        image_prices=base.image_prices if o.per_image is None else (),  # one price for every image
        per_character=base.per_character if o.per_character is None else o.per_character,
        per_second=base.per_second if o.per_second is None else o.per_second,
    )


def _mode(o: PriceOverride) -> Mode | None:
    """The kind of model a full override prices, for one the catalog does not know."""
    if o.input_per_million is not None and o.output_per_million is not None:
        return "chat"
    if o.per_image is not None:
        return "image"
    if o.per_character is not None:
        return "audio_speech"
    if o.per_second is not None:
        return "audio_transcription"
    return None


def _per_token(per_million: Decimal | None, default: D) -> Decimal | D:
    return default if per_million is None else per_million.scaleb(-6)
