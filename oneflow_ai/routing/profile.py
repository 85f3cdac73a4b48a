"""What routing knows of a model it may choose (`ModelProfile`), and what one request needs and costs on it.

Pure values and functions. A request is described by its size (prompt and completion tokens), its modality
and whether it needs tools or image input.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from oneflow_ai.pricing import Cost, ModelPrice, PricingEngine, UnknownModelPrice
from oneflow_ai.routing.planner import fits
from oneflow_ai.routing.strategy import DEFAULT_QUALITY

PRIOR_FIRST_TOKEN_S = 0.5
PRIOR_MAX_TPS = 200.0
PRIOR_TPS_PER_QUALITY = 150.0
CHARACTERS_PER_TOKEN = 4
"""Text-to-speech is priced per character; a request's size is given in tokens, about 4 characters each."""


class Modality(StrEnum):
    TEXT = "text"
    EMBEDDING = "embedding"
    IMAGE = "image"
    AUDIO = "audio"


ALIASES = {"chat": Modality.TEXT, "embeddings": Modality.EMBEDDING, "speech": Modality.AUDIO}
MODES = {
    Modality.TEXT: "chat",
    Modality.EMBEDDING: "embedding",
    Modality.IMAGE: "image",
    Modality.AUDIO: "audio_speech",
}
"""The price catalog's `mode` of the models that serve each modality."""


def parse_modality(name: str | Modality) -> Modality:
    """`text` (or `chat`), `embedding`, `image` or `audio`; anything else raises ValueError."""
    try:
        return ALIASES.get(name) or Modality(name)
    except ValueError:
        raise ValueError(f"unknown modality {name!r}; known: {', '.join(Modality)}") from None


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What routing knows of one model it may choose: a catalog model, or a gateway's model group.
    `priced_as` is the catalog model whose prices apply (None: unknown); a `None` limit is unknown."""

    name: str
    provider: str
    mode: str = "chat"
    priced_as: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    quality: float = DEFAULT_QUALITY

    @classmethod
    def of(cls, price: ModelPrice, name: str | None = None) -> ModelProfile:
        return cls(
            name or price.name,
            price.provider,
            price.mode,
            price.name,
            price.context_window or None,
            price.max_output_tokens or None,
            price.supports_tools,
            price.supports_vision,
            price.quality,
        )


def fits_request(
    p: ModelProfile, kind: Modality, input_tokens: int, output_tokens: int, tools: bool, vision: bool
) -> bool:
    """Can `p` take the request? Text: the context window holds prompt and completion, `max_output_tokens`
    the completion, and tools / image input are supported when needed. An unknown limit never excludes."""
    if kind is Modality.TEXT:
        if p.max_output_tokens is not None and output_tokens > p.max_output_tokens:
            return False
        return fits(p, input_tokens + output_tokens, needs_tools=tools, needs_vision=vision)
    if kind is Modality.EMBEDDING:
        return fits(p, input_tokens)
    return True


def estimated_cost(
    pricing: PricingEngine, model: str | None, kind: Modality, input_tokens: int, output_tokens: int
) -> Cost | None:
    """What a request of this size is expected to cost on the catalog `model`; None when it has no price
    for this kind of use. Text: prompt and completion tokens; embedding: prompt tokens; image: one image;
    audio (text-to-speech): `CHARACTERS_PER_TOKEN` characters per prompt token."""
    if model is None:
        return None
    try:
        if kind is Modality.IMAGE:
            return pricing.image_cost(model)
        if kind is Modality.AUDIO:
            return pricing.audio_cost(model, characters=CHARACTERS_PER_TOKEN * input_tokens)
        return pricing.estimate(model, input_tokens, output_tokens if kind is Modality.TEXT else 0)
    except UnknownModelPrice:
        return None


def prior_latency_s(p: ModelProfile, output_tokens: int) -> float:
    """The latency assumed before any is observed: the first token after `PRIOR_FIRST_TOKEN_S`, then
    200 tokens/s at quality 0 down to 50 at quality 1 (bigger models generate more slowly). A rough guess."""
    return PRIOR_FIRST_TOKEN_S + output_tokens / (PRIOR_MAX_TPS - PRIOR_TPS_PER_QUALITY * p.quality)


def ranking_usd(
    pricing: PricingEngine, model: str | None, kind: Modality, input_tokens: int, output_tokens: int
) -> Decimal | None:
    """`estimated_cost(...).usd`, for tokens computed straight from the per-token prices (no exact-decimal
    context per model: ~1 µs instead of ~14, which matters when `model: "auto"` ranks on the hot path)."""
    if kind not in (Modality.TEXT, Modality.EMBEDDING):
        cost = estimated_cost(pricing, model, kind, input_tokens, output_tokens)
        return None if cost is None else cost.usd
    price = None if model is None else pricing.catalog.get(model)
    if price is None:
        return None
    completion = output_tokens if kind is Modality.TEXT else 0
    return input_tokens * price.input_per_token + completion * price.output_per_token
