from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.pricing import Cost, PriceCatalog, PricingEngine, UnknownModelPrice, decimal_str, to_cents

CATALOG = PriceCatalog.load()
ENGINE = PricingEngine(CATALOG)
CHAT_MODELS = sorted(p.name for p in CATALOG.models() if p.mode == "chat")

# The original OneFlow table, at 1,500 input and 500 output tokens, worked by hand:
# usd = 1500 * input_per_million / 1e6 + 500 * output_per_million / 1e6; credits = usd * 100.
ORIGINAL_TABLE = [
    ("gpt-4o", "0.00375", "0.005", "0.00875"),  # 2.50 / 10.00
    ("gpt-4-turbo", "0.015", "0.015", "0.03"),  # 10 / 30
    ("gpt-4", "0.045", "0.03", "0.075"),  # 30 / 60
    ("gpt-3.5-turbo", "0.00075", "0.00075", "0.0015"),  # 0.50 / 1.50
    ("claude-3-opus-20240229", "0.0225", "0.0375", "0.06"),  # 15 / 75
    ("claude-3-sonnet-20240229", "0.0045", "0.0075", "0.012"),  # 3 / 15
    ("claude-3-haiku-20240307", "0.000375", "0.000625", "0.001"),  # 0.25 / 1.25
]


@pytest.mark.parametrize(("model", "input_usd", "output_usd", "total_usd"), ORIGINAL_TABLE)
def test_original_table_at_1500_in_500_out(model: str, input_usd: str, output_usd: str, total_usd: str) -> None:
    cost = ENGINE.cost(model, 1500, 500)
    assert Decimal(input_usd) + Decimal(output_usd) == Decimal(total_usd)
    assert cost.usd == Decimal(total_usd)
    assert cost.credits == Decimal(total_usd) * 100
    assert ENGINE.cost(model, 1500, 0).usd == Decimal(input_usd)
    assert ENGINE.cost(model, 0, 500).usd == Decimal(output_usd)


def test_worked_example_gpt4() -> None:
    cost = PricingEngine().cost("gpt-4", 1500, 500)
    assert cost.usd == Decimal("0.075")
    assert cost.credits == Decimal("7.5")
    assert cost.to_json() == {"usd": "0.075", "credits": "7.5"}


def test_cached_tokens_billed_at_the_cached_rate() -> None:
    # gpt-4o: 2.50 input, 1.25 cached, 10.00 output per million
    cost = ENGINE.cost("gpt-4o", 1000, 100, cached_tokens=400)
    assert cost.usd == Decimal("600") * Decimal("2.50") / 10**6 + 400 * Decimal("1.25") / 10**6 + Decimal("0.001")


def test_cached_tokens_without_a_cached_rate_are_billed_as_input() -> None:
    assert CATALOG.require("gpt-4").cached_input_per_token is None
    assert ENGINE.cost("gpt-4", 1000, 0, cached_tokens=1000) == ENGINE.cost("gpt-4", 1000, 0)


def test_cache_writes_are_billed_at_one_and_a_quarter_times_input() -> None:
    # claude-sonnet-4: 3.00 input, 0.30 cache read, 15.00 output per million; a cache write is 1.25 x 3.00
    price = CATALOG.require("claude-sonnet-4")
    cost = ENGINE.cost_of(price, 1000 + 2000 + 4000, 100, cached_tokens=2000, cache_write_tokens=4000)
    expected = (1000 * Decimal("3.00") + 2000 * Decimal("0.30") + 4000 * Decimal("3.75") + 100 * Decimal("15")) / 10**6
    assert cost.usd == expected
    with pytest.raises(ValueError, match="cache_write_tokens"):
        ENGINE.cost_of(price, 10, 0, cached_tokens=5, cache_write_tokens=6)
    with pytest.raises(ValueError, match="cache_write_tokens"):
        ENGINE.cost_of(price, 10, 0, cache_write_tokens=-1)


def test_inconsistent_or_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="cached_tokens"):
        ENGINE.cost("gpt-4o", 10, 0, cached_tokens=11)
    with pytest.raises(ValueError, match="input_tokens"):
        ENGINE.cost("gpt-4o", -1, 0)
    with pytest.raises(ValueError, match="output_tokens"):
        ENGINE.cost("gpt-4o", 1, 2.0)  # type: ignore[arg-type]


def test_estimate_prices_like_cost() -> None:
    assert ENGINE.estimate("gpt-4o-mini", 2000, 800, 100) == ENGINE.cost("gpt-4o-mini", 2000, 800, 100)


def test_unknown_model_is_a_key_error_naming_it() -> None:
    with pytest.raises(UnknownModelPrice, match="'no-such-model' is not in the price catalog") as info:
        ENGINE.cost("no-such-model", 1, 1)
    assert isinstance(info.value, KeyError)
    assert info.value.model == "no-such-model"


def test_provider_prefix_and_alias_price_the_same() -> None:
    assert ENGINE.cost("openai/gpt-4", 1500, 500) == ENGINE.cost("gpt-4", 1500, 500)
    assert ENGINE.cost("claude-3-haiku", 1500, 500) == ENGINE.cost("claude-3-haiku-20240307", 1500, 500)


def test_image_cost() -> None:
    assert ENGINE.image_cost("dall-e-3", 3).usd == Decimal("0.12")
    assert ENGINE.image_cost("stable-image-ultra").usd == Decimal("0.08")
    assert ENGINE.image_cost("dall-e-3", 0).usd == 0
    with pytest.raises(UnknownModelPrice, match="no per-image price"):
        ENGINE.image_cost("gpt-4o", 1)


def test_audio_cost() -> None:
    # whisper-1: 0.006 USD a minute; tts-1: 15 USD per million characters
    assert ENGINE.audio_cost("whisper-1", seconds=60).usd == Decimal("0.006")
    assert ENGINE.audio_cost("whisper-1", seconds=Decimal("90.5")).usd == Decimal("0.00905")
    assert ENGINE.audio_cost("tts-1", characters=1_000_000).usd == Decimal(15)
    assert ENGINE.audio_cost("eleven_multilingual_v2", characters=1000).credits == Decimal(10)
    with pytest.raises(UnknownModelPrice, match="no per-character price"):
        ENGINE.audio_cost("whisper-1", characters=10)
    with pytest.raises(UnknownModelPrice, match="no per-second price"):
        ENGINE.audio_cost("tts-1", seconds=10)
    with pytest.raises(ValueError, match="seconds"):
        ENGINE.audio_cost("whisper-1", seconds=Decimal("NaN"))


def test_demo_models_are_free() -> None:
    assert ENGINE.cost("demo", 10**6, 10**6) == Cost(Decimal(0), Decimal(0))
    assert ENGINE.cost("demo-embedding", 10**6, 0).usd == 0


def test_credit_and_currency_rates() -> None:
    engine = PricingEngine(CATALOG, credits_per_usd=Decimal("1000"), inr_per_usd=Decimal("83.25"))
    cost = engine.cost("gpt-4", 1500, 500)
    assert cost.credits == Decimal(75)
    assert cost.inr(engine.inr_per_usd) == Decimal("6.24375")
    assert cost.display_inr(engine.inr_per_usd) == "₹6.24"
    assert cost.display_usd() == "$0.08"
    with pytest.raises(ValueError, match="credits_per_usd"):
        PricingEngine(CATALOG, credits_per_usd=100.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inr_per_usd"):
        PricingEngine(CATALOG, inr_per_usd=Decimal(-1))


def test_display_helpers() -> None:
    assert to_cents(Decimal("0.005")) == Decimal("0.01")
    assert to_cents(Decimal("0.00499999")) == Decimal("0.00")
    assert decimal_str(Decimal("7.50000000")) == "7.5"
    assert decimal_str(Decimal("12375000000.00000000")) == "12375000000"
    assert decimal_str(Decimal("0E-12")) == "0"
    assert decimal_str(Decimal("0.000001250")) == "0.00000125"


# ---- properties ---------------------------------------------------------------------------------------

tokens = st.integers(min_value=0, max_value=10**9)
models = st.sampled_from(CHAT_MODELS)
rates = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def usage(draw: st.DrawFn) -> tuple[int, int, int]:
    inp = draw(tokens)
    return inp, draw(tokens), draw(st.integers(min_value=0, max_value=inp))


@given(models, usage(), usage())
def test_cost_is_additive_over_requests(model: str, a: tuple[int, int, int], b: tuple[int, int, int]) -> None:
    together = ENGINE.cost(model, a[0] + b[0], a[1] + b[1], a[2] + b[2])
    assert ENGINE.cost(model, *a) + ENGINE.cost(model, *b) == together


@given(models, usage())
def test_cost_is_non_negative(model: str, u: tuple[int, int, int]) -> None:
    cost = ENGINE.cost(model, *u)
    assert cost.usd >= 0
    assert cost.credits >= 0


@given(models, usage(), tokens, tokens)
def test_cost_is_monotonic_in_tokens(model: str, u: tuple[int, int, int], more_in: int, more_out: int) -> None:
    inp, out, cached = u
    base = ENGINE.cost(model, inp, out, cached).usd
    assert ENGINE.cost(model, inp + more_in, out, cached).usd >= base
    assert ENGINE.cost(model, inp, out + more_out, cached).usd >= base


@given(models, usage(), rates)
def test_credits_are_usd_times_rate_exactly(model: str, u: tuple[int, int, int], rate: Decimal) -> None:
    engine = PricingEngine(CATALOG, credits_per_usd=rate)
    cost = engine.cost(model, *u)
    assert cost.credits == cost.usd * rate
    assert engine.credits(cost.usd) == cost.credits


@given(models, usage())
def test_cached_tokens_never_cost_more_than_uncached(model: str, u: tuple[int, int, int]) -> None:
    inp, out, cached = u
    assert ENGINE.cost(model, inp, out, cached).usd <= ENGINE.cost(model, inp, out).usd


@given(models, usage())
def test_cost_matches_the_per_million_price(model: str, u: tuple[int, int, int]) -> None:
    inp, out, cached = u
    p = CATALOG.require(model)
    cached_rate = p.cached_input_per_token if p.cached_input_per_token is not None else p.input_per_token
    per_million = (inp - cached) * p.input_per_token.scaleb(6) + cached * cached_rate.scaleb(6)
    expected = (per_million + out * p.output_per_token.scaleb(6)).scaleb(-6)
    assert ENGINE.cost(model, *u).usd == expected
