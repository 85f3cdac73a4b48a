"""A deployment's price: its config `price` override over the catalog's price of its upstream model."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from oneflow_ai.config.schema import Deployment
from oneflow_ai.pricing import DeploymentPrices, PriceCatalog, PricingEngine
from oneflow_ai.pricing.deployments import price_of

CATALOG = PriceCatalog.load()


def deployment(model: str, **price: object) -> Deployment:
    return Deployment.model_validate({"provider": "openai", "model": model, "id": "g/0", "price": price or None})


def test_no_override_is_the_catalog_price() -> None:
    d = deployment("gpt-4o")
    assert DeploymentPrices(CATALOG, [d]).get(d) == CATALOG.get("gpt-4o")


def test_a_partial_override_keeps_the_other_catalog_fields() -> None:
    d = deployment("gpt-4o", input_per_million="3")
    price = DeploymentPrices(CATALOG, [d]).get(d)
    base = CATALOG.require("gpt-4o")
    assert price is not None
    assert price.input_per_token == Decimal("0.000003")
    assert price.output_per_token == base.output_per_token
    assert price.cached_input_per_token == base.cached_input_per_token
    assert (price.context_window, price.quality) == (base.context_window, base.quality)


def test_a_full_price_prices_a_model_the_catalog_does_not_know() -> None:
    d = deployment("my-private-llm", input_per_million="1.5", output_per_million=4)
    prices = DeploymentPrices(CATALOG, [d])
    price = prices.get(d)
    assert price is not None and price.cached_input_per_token is None
    assert prices.rates(d) == (Decimal("0.0000015"), Decimal("0.000004"))
    # 11 in (3 cached, billed as input: no cached rate), 7 out
    assert PricingEngine(CATALOG).cost_of(price, 11, 7, 3).usd == Decimal("0.0000445")


def test_an_unknown_model_with_a_partial_price_has_none() -> None:
    d = deployment("my-private-llm", input_per_million="1.5")
    assert DeploymentPrices(CATALOG, [d]).get(d) is None


def test_a_yaml_number_is_read_as_written() -> None:
    d = deployment("gpt-4o", input_per_million=0.1, cached_input_per_million=0.05)
    assert d.price is not None
    assert (d.price.input_per_million, d.price.cached_input_per_million) == (Decimal("0.1"), Decimal("0.05"))


@pytest.mark.parametrize(
    "price",
    [
        {"input_per_million": "-1"},
        {"output_per_million": -0.5},
        {"input_per_million": "NaN"},
        {"input_per_million": True},
        {"input_per_million": "1", "cached_input_per_million": "2"},
        {"input_per_million": "1", "per_pixel": "2"},  # per_image, per_character, per_second are fields now
        {"per_second": "-0.0001"},
    ],
)
def test_a_bad_override_is_refused(price: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        deployment("gpt-4o", **price)


def test_a_deployment_not_known_at_build_time_is_priced_too() -> None:
    d = deployment("gpt-4o", output_per_million="20")
    price = DeploymentPrices(CATALOG, []).get(d)
    assert price is not None and price.output_per_token == Decimal("0.00002")


def test_media_prices_override_and_price_unknown_models() -> None:
    """A deployment's `per_image` / `per_character` / `per_second` replace the catalog's, and price a media model
    the catalog does not know (its mode follows the unit)."""
    catalog = PriceCatalog.load()
    cheap = Deployment(provider="openai", model="dall-e-3", price={"per_image": "0.03"})
    price = price_of(catalog, cheap)
    assert price is not None and price.per_image == Decimal("0.03")
    assert price.per_image_at("hd", "1792x1024") == Decimal("0.03")  # for every image: the table is replaced
    groq = Deployment(provider="groq", model="whisper-large-v3", price={"per_second": "0.00003083"})
    price = price_of(catalog, groq)
    assert price is not None and (price.mode, price.per_second) == ("audio_transcription", Decimal("0.00003083"))
    voice = price_of(catalog, Deployment(provider="openai", model="my-tts", price={"per_character": "0.00002"}))
    assert voice is not None and voice.mode == "audio_speech"
    assert (
        price_of(catalog, Deployment(provider="openai", model="my-tts", price={"cached_input_per_million": 1})) is None
    )
