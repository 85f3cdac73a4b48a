from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oneflow_ai.pricing import CatalogError, PriceCatalog, UnknownModelPrice
from oneflow_ai.pricing.catalog import MODES

CATALOG = PriceCatalog.load()


def per_million(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else rate * 10**6


def entry(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "provider": "acme",
        "mode": "chat",
        "input_per_million": "1.00",
        "output_per_million": "2.00",
        "context_window": 1000,
        "max_output_tokens": 100,
        "supports_tools": True,
        "supports_vision": False,
        "quality": 0.5,
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not ...}


def catalog(models: dict[str, Any]) -> PriceCatalog:
    return PriceCatalog.from_dict({"prices_as_of": "2025-11-01", "models": models})


# ---- the shipped catalog ------------------------------------------------------------------------------


def test_shipped_catalog_loads() -> None:
    assert CATALOG.prices_as_of == date(2025, 11, 1)
    assert len(CATALOG) == len(CATALOG.models()) > 60
    assert {p.mode for p in CATALOG.models()} == MODES


@pytest.mark.parametrize(
    ("model", "inp", "out"),
    [
        ("gpt-4o", "2.50", "10.00"),
        ("gpt-4-turbo", "10", "30"),
        ("gpt-4", "30", "60"),
        ("gpt-3.5-turbo", "0.50", "1.50"),
        ("claude-3-opus-20240229", "15", "75"),
        ("claude-3-sonnet-20240229", "3", "15"),
        ("claude-3-haiku-20240307", "0.25", "1.25"),
    ],
)
def test_original_oneflow_table(model: str, inp: str, out: str) -> None:
    p = CATALOG.require(model)
    assert per_million(p.input_per_token) == Decimal(inp)
    assert per_million(p.output_per_token) == Decimal(out)


def test_prices_load_as_exact_decimals() -> None:
    p = CATALOG.require("gpt-4o-mini")
    assert p.input_per_token == Decimal("0.00000015")
    assert p.cached_input_per_token == Decimal("0.000000075")
    assert CATALOG.require("dall-e-3").per_image == Decimal("0.04")
    assert CATALOG.require("whisper-1").per_second == Decimal("0.0001")
    assert CATALOG.require("tts-1").per_character == Decimal("0.000015")


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3", "o3-mini", "o4-mini",
        "gpt-5", "gpt-5-mini", "gpt-5-nano", "text-embedding-3-small", "text-embedding-3-large", "ada-002",
        "dall-e-3", "gpt-image-1", "whisper-1", "tts-1", "claude-opus-4", "claude-opus-4-1", "claude-sonnet-4",
        "claude-sonnet-4-5", "claude-3-7-sonnet", "claude-3-5-haiku", "claude-haiku-4-5", "gemini-2.5-pro",
        "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash", "mistral-large-latest",
        "mistral-medium-latest", "mistral-small-latest", "codestral-latest", "mistral-embed",
        "llama-3.3-70b-versatile", "llama-3.1-8b-instant", "stable-image-core", "eleven_multilingual_v2",
        "deepseek-chat", "deepseek-reasoner", "demo", "demo-embedding",
    ],
)  # fmt: skip
def test_catalog_covers_the_current_models(model: str) -> None:
    assert model in CATALOG


def test_every_shipped_model_is_consistent() -> None:
    for p in CATALOG.models():
        assert 0 <= p.quality <= 1, p.name
        assert p.max_output_tokens <= p.context_window, p.name
        if p.cached_input_per_token is not None:
            assert p.cached_input_per_token <= p.input_per_token, p.name


# ---- finding a model ----------------------------------------------------------------------------------


def test_dated_ids_are_aliases() -> None:
    assert CATALOG.require("claude-3-opus-20240229").name == "claude-3-opus"
    assert CATALOG.require("claude-sonnet-4-5-20250929").name == "claude-sonnet-4-5"
    assert CATALOG.require("anthropic.claude-3-haiku-20240307-v1:0").name == "claude-3-haiku"
    assert CATALOG.require("gpt-4o-2024-08-06").name == "gpt-4o"


def test_a_differently_priced_snapshot_is_not_an_alias() -> None:
    assert CATALOG.require("gpt-4o-2024-05-13").input_per_token > CATALOG.require("gpt-4o").input_per_token


def test_provider_prefixes_and_case_are_tolerated() -> None:
    assert CATALOG.require("openai/gpt-4o").name == "gpt-4o"
    assert CATALOG.require("openrouter/anthropic/claude-3-opus").name == "claude-3-opus"
    assert CATALOG.require(" GPT-4O ").name == "gpt-4o"
    assert CATALOG.require("bedrock/anthropic.claude-3-haiku-20240307-v1:0").name == "claude-3-haiku"


def test_a_name_with_a_slash_matches_exactly_first() -> None:
    assert CATALOG.require("openai/gpt-oss-120b").provider == "groq"
    assert CATALOG.require("groq/openai/gpt-oss-120b").name == "openai/gpt-oss-120b"


def test_unknown_models() -> None:
    assert CATALOG.get("gpt-99") is None
    assert CATALOG.get("openai/") is None
    assert "gpt-99" not in CATALOG
    with pytest.raises(UnknownModelPrice):
        CATALOG.require("gpt-99")


# ---- validation ---------------------------------------------------------------------------------------


def test_a_minimal_catalog() -> None:
    c = catalog({"m": entry(cached_input_per_million="0.5", aliases=["m-1"])})
    assert c.require("M-1").cached_input_per_token == Decimal("0.0000005")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (entry(input_per_million=2.5), r"input_per_million is the unquoted number 2\.5; write prices as quoted"),
        (entry(input_per_million="abc"), "input_per_million 'abc' is not a decimal number"),
        (entry(output_per_million="-1"), "output_per_million must be a finite amount >= 0"),
        (entry(output_per_million="Infinity"), "output_per_million must be a finite amount >= 0"),
        (entry(output_per_million=True), "output_per_million must be a decimal string"),
        (entry(output_per_million=...), "missing field"),
        (entry(quality=...), "missing field"),
        (entry(mode="video"), "mode 'video' is not one of"),
        (entry(cached_input_per_million="1.5"), "cached_input_per_million 1.5 is more than input_per_million"),
        (entry(input_per_milion="1"), "unknown field"),
        (entry(max_output_tokens=2000), "must be > 0 and at least max_output_tokens"),
        (entry(max_output_tokens=0), "max_output_tokens must be > 0"),
        (entry(context_window="big"), "context_window must be a whole number"),
        (entry(quality=1.5), "quality must be a number from 0 to 1"),
        (entry(supports_tools="yes"), "supports_tools must be true or false"),
        (entry(provider=""), "provider must be a non-empty string"),
        (entry(aliases="m2"), "aliases must be a list"),
        ({"mode": "image", "provider": "p", "supports_tools": False, "supports_vision": False, "quality": 1},
         "missing field.*per_image"),
        ("not a mapping", "expected a mapping of fields"),
    ],
)  # fmt: skip
def test_invalid_entries_are_refused_naming_the_model(fields: Any, message: str) -> None:
    with pytest.raises(CatalogError, match=rf"model 'broken': .*{message}"):
        catalog({"ok": entry(), "broken": fields})


def test_an_alias_may_not_name_two_models() -> None:
    with pytest.raises(CatalogError, match="model 'b': name 'A' is already 'a'"):
        catalog({"a": entry(), "b": entry(aliases=["A"])})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"prices_as_of": "soon", "models": {"m": entry()}}, "prices_as_of 'soon' is not a date"),
        ({"models": {"m": entry()}}, "expected exactly the keys"),
        ({"prices_as_of": "2025-01-01", "models": {}}, "non-empty mapping"),
        ({"prices_as_of": "2025-01-01", "models": {1: entry()}}, "model name 1 must be a non-empty string"),
        ([], "expected exactly the keys"),
    ],
)
def test_invalid_documents_are_refused(document: Any, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        PriceCatalog.from_dict(document)


def test_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        'prices_as_of: 2024-03-01\nmodels:\n  m: {provider: p, mode: embedding, input_per_million: "0.1",'
        " context_window: 10, supports_tools: false, supports_vision: false, quality: 0.2}\n"
    )
    c = PriceCatalog.load(path)
    assert c.prices_as_of == date(2024, 3, 1)
    assert c.require("m").output_per_token == 0
    with pytest.raises(CatalogError, match="cannot read it"):
        PriceCatalog.load(tmp_path / "missing.yaml")
    path.write_text("models: [unclosed")
    with pytest.raises(CatalogError, match="cannot read it"):
        PriceCatalog.load(path)


# ---- overrides ----------------------------------------------------------------------------------------


def test_override_replaces_the_given_fields_only() -> None:
    cheaper = CATALOG.with_overrides({"gpt-4o": {"input_per_million": "2.00"}})
    assert per_million(cheaper.require("gpt-4o").input_per_token) == Decimal("2.00")
    assert cheaper.require("gpt-4o").output_per_token == CATALOG.require("gpt-4o").output_per_token
    assert per_million(CATALOG.require("gpt-4o").input_per_token) == Decimal("2.50")  # the original is untouched
    assert cheaper.prices_as_of == CATALOG.prices_as_of


def test_override_by_alias_or_prefixed_name_reaches_the_model() -> None:
    c = CATALOG.with_overrides({"anthropic/claude-3-opus-20240229": {"output_per_million": "70"}})
    assert per_million(c.require("claude-3-opus").output_per_token) == Decimal(70)


def test_override_none_removes_an_optional_price() -> None:
    c = CATALOG.with_overrides({"gpt-4o": {"cached_input_per_million": None}})
    assert c.require("gpt-4o").cached_input_per_token is None


def test_override_adds_a_model() -> None:
    c = CATALOG.with_overrides({"my-finetune": entry(aliases=["ft:gpt-4o:acme"])})
    assert c.require("ft:gpt-4o:acme").provider == "acme"
    assert "my-finetune" not in CATALOG


def test_overrides_are_validated() -> None:
    with pytest.raises(CatalogError, match="model 'my-finetune': missing field"):
        CATALOG.with_overrides({"my-finetune": {"input_per_million": "1"}})
    with pytest.raises(CatalogError, match="model 'gpt-4o': input_per_million is the unquoted number"):
        CATALOG.with_overrides({"gpt-4o": {"input_per_million": 2.0}})
    with pytest.raises(CatalogError, match="price override for 'gpt-4o': expected a mapping"):
        CATALOG.with_overrides({"gpt-4o": "2.00"})  # type: ignore[dict-item]
