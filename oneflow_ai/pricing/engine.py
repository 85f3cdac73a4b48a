"""The pricing engine: tokens, images, seconds and characters in; exact US dollars and credits out.

All arithmetic is `Decimal` in a context that refuses to round (`Inexact` is trapped), so a cost is either
exact or an error, never silently rounded. Amounts keep full precision; `to_cents` and `decimal_str` are
for display and JSON only.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    FloatOperation,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    localcontext,
)

from oneflow_ai.pricing.catalog import ModelPrice, PriceCatalog, UnknownModelPrice

_PRECISION = 60
"""Significant digits: a price has a handful, a token count up to ~15; 60 leaves any real sum exact."""
_TRAPS = (InvalidOperation, DivisionByZero, Overflow, Inexact, Rounded, FloatOperation)
"""Anything that would make a result inexact (or mix in a float) raises."""
_CENT = Decimal("0.01")
CACHE_WRITE_RATE = Decimal("1.25")
"""A prompt-cache write costs this times the input price: Anthropic's price for its (default) 5-minute cache. Its
1-hour cache writes (2x) are priced at this rate too; the catalog has no column for either."""
_EXACT = Context(prec=_PRECISION, traps=list(_TRAPS))
"""The template `exact()` copies (`localcontext` works on a copy, so this one is never changed)."""


def exact() -> AbstractContextManager[Context]:
    """A decimal context in which any rounding raises instead of happening."""
    return localcontext(_EXACT)


def exact_context() -> Context:
    """`exact()`'s context as an object of one's own, for arithmetic through its methods (`ctx.add(a, b)`):
    the same exactness without entering a context per operation, on paths that run per request."""
    return _EXACT.copy()


def to_cents(amount: Decimal) -> Decimal:
    """`amount` rounded half-up to the cent (or paisa), for display; never for storage or arithmetic."""
    with localcontext(prec=_PRECISION):
        return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def decimal_str(amount: Decimal) -> str:
    """The exact amount as a plain decimal string for JSON: no exponent, no trailing zeros (`"0.075"`)."""
    with localcontext(prec=_PRECISION):
        text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "0") else text


@dataclass(frozen=True, slots=True)
class Cost:
    """What a request cost, in US dollars and in credits, at full precision."""

    usd: Decimal
    credits: Decimal

    def __add__(self, other: Cost) -> Cost:
        with exact():
            return Cost(self.usd + other.usd, self.credits + other.credits)

    def inr(self, inr_per_usd: Decimal) -> Decimal:
        """The cost in Indian rupees at `inr_per_usd`, exact."""
        with exact():
            return self.usd * inr_per_usd

    def display_inr(self, inr_per_usd: Decimal) -> str:
        """The cost in rupees for people: `"₹6.23"` (rounded half-up to the paisa)."""
        return f"₹{to_cents(self.inr(inr_per_usd))}"

    def display_usd(self) -> str:
        """The cost in dollars for people: `"$0.08"` (rounded half-up to the cent)."""
        return f"${to_cents(self.usd)}"

    def to_json(self) -> dict[str, str]:
        """Exact amounts as decimal strings, so no JSON float ever carries money."""
        return {"usd": decimal_str(self.usd), "credits": decimal_str(self.credits)}


class PricingEngine:
    """Prices usage from a `PriceCatalog`; converts dollars to credits at `credits_per_usd`."""

    def __init__(
        self,
        catalog: PriceCatalog | None = None,
        credits_per_usd: Decimal = Decimal(100),
        inr_per_usd: Decimal = Decimal("83"),
    ) -> None:
        for label, rate in (("credits_per_usd", credits_per_usd), ("inr_per_usd", inr_per_usd)):
            if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0:
                raise ValueError(f"{label} must be a finite Decimal >= 0, got {rate!r}")
        self.catalog = catalog if catalog is not None else PriceCatalog.load()
        self.credits_per_usd = credits_per_usd
        self.inr_per_usd = inr_per_usd
        self._exact = exact_context()
        """`exact()`'s context, used through its methods on the per-request path (no context switch)."""

    def price(self, model: str) -> ModelPrice:
        """The catalog entry for `model`; `UnknownModelPrice` if there is none."""
        return self.catalog.require(model)

    def cost(self, model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> Cost:
        """The cost of a call that used these tokens. `cached_tokens` is the part of `input_tokens` read from
        the provider's prompt cache: billed at the cached rate where the model has one, else as input."""
        return self.cost_of(self.price(model), input_tokens, output_tokens, cached_tokens)

    def cost_of(
        self, p: ModelPrice, input_tokens: int, output_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0
    ) -> Cost:
        """`cost` at the given price (e.g. a deployment's, with its config override applied). `cache_write_tokens`
        is the part of `input_tokens` written to the provider's prompt cache, billed at `CACHE_WRITE_RATE` times
        the input price (Anthropic's cache writes; reads are `cached_tokens`)."""
        for value in (input_tokens, output_tokens, cached_tokens, cache_write_tokens):
            if type(value) is not int or value < 0:
                _check_counts(
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cached_tokens=cached_tokens,
                    cache_write_tokens=cache_write_tokens,
                )
        if cached_tokens + cache_write_tokens > input_tokens:
            raise ValueError(
                f"cached_tokens ({cached_tokens}) and cache_write_tokens ({cache_write_tokens}) are more than"
                f" input_tokens ({input_tokens})"
            )
        cached_rate = p.input_per_token if p.cached_input_per_token is None else p.cached_input_per_token
        ctx = self._exact  # the same exact arithmetic as `with exact():`, without entering a context per call
        usd = ctx.add(
            ctx.add(
                ctx.multiply(input_tokens - cached_tokens - cache_write_tokens, p.input_per_token),
                ctx.multiply(cached_tokens, cached_rate),
            ),
            ctx.multiply(output_tokens, p.output_per_token),
        )
        if cache_write_tokens:
            usd = ctx.add(usd, ctx.multiply(cache_write_tokens, ctx.multiply(p.input_per_token, CACHE_WRITE_RATE)))
        return Cost(usd, ctx.multiply(usd, self.credits_per_usd))

    def estimate(self, model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> Cost:
        """The cost a call is expected to have, before it is made (e.g. counted prompt, `max_tokens` out)."""
        return self.cost(model, input_tokens, output_tokens, cached_tokens)

    def image_cost(self, model: str, n: int = 1) -> Cost:
        """The cost of generating `n` images."""
        _check_counts(n=n)
        per_image = self.price(model).per_image
        if per_image is None:
            raise UnknownModelPrice(model, "has no per-image price")
        with exact():
            return self._cost(n * per_image)

    def audio_cost(self, model: str, *, seconds: Decimal | int = 0, characters: int = 0) -> Cost:
        """The cost of transcribing `seconds` of audio and/or speaking `characters` of text."""
        _check_counts(characters=characters)
        if isinstance(seconds, bool) or not isinstance(seconds, Decimal | int) or not _finite_non_negative(seconds):
            raise ValueError(f"seconds must be a finite Decimal or int >= 0, got {seconds!r}")
        p = self.price(model)
        usd = Decimal(0)
        for amount, rate, unit in ((seconds, p.per_second, "second"), (characters, p.per_character, "character")):
            if amount and rate is None:
                raise UnknownModelPrice(model, f"has no per-{unit} price")
            if amount and rate is not None:
                with exact():
                    usd += amount * rate
        return self._cost(usd)

    def credits(self, usd: Decimal) -> Decimal:
        """`usd` in credits, exactly `usd * credits_per_usd`."""
        with exact():
            return usd * self.credits_per_usd

    def _cost(self, usd: Decimal) -> Cost:
        return Cost(usd=usd, credits=self.credits(usd))


def _finite_non_negative(amount: Decimal | int) -> bool:
    return Decimal(amount).is_finite() and amount >= 0


def _check_counts(**counts: int) -> None:
    for label, value in counts.items():
        if type(value) is not int or value < 0:
            raise ValueError(f"{label} must be a whole number >= 0, got {value!r}")
