"""Pricing the calls that are not counted in tokens alone: images, speech and transcription.

A provider meters what it served (`Metered`: how many images, characters of input spoken, seconds of audio
transcribed); `media_usd` prices it at a model's price, exactly:

- images: per image at the catalog's `image_prices` by quality and size (`ModelPrice.per_image_at`), times the
  images returned;
- speech: per character of the input, times `per_character`;
- transcription: per second of audio, times `per_second` (`seconds_of_wav` measures a WAV file when the upstream
  did not say how long the audio was);
- in each, when the upstream reported token usage and the model has per-token prices (OpenAI's `gpt-image-1`
  and `gpt-4o-transcribe` bill by tokens), the tokens instead, as the upstream bills them.

Pure: values in, `Decimal` out, in the engine's exact context (a cost is exact or an error).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Literal

from oneflow_ai.pricing.catalog import ModelPrice
from oneflow_ai.pricing.engine import exact

Unit = Literal["images", "characters", "seconds"]
MICROSECOND = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Metered:
    """What a media call used: `quantity` of `unit`; for images, their quality and size as asked or answered."""

    unit: Unit
    quantity: Decimal
    quality: str | None = None
    size: str | None = None


def media_usd(price: ModelPrice, metered: Metered, input_tokens: int = 0, output_tokens: int = 0) -> Decimal | None:
    """The call's cost in US dollars at `price`; None when the model has no price for this unit."""
    with exact():
        if (input_tokens or output_tokens) and (price.input_per_token or price.output_per_token):
            return input_tokens * price.input_per_token + output_tokens * price.output_per_token
        rate = _rate(price, metered)
        return None if rate is None else metered.quantity * rate


def _rate(price: ModelPrice, metered: Metered) -> Decimal | None:
    if metered.unit == "images":
        return price.per_image_at(metered.quality, metered.size)
    if metered.unit == "characters":
        return price.per_character
    return price.per_second


def in_microseconds(seconds: Decimal) -> Decimal:
    """A duration as the ledger keeps it (`quantity`, six decimals) and as it is priced: rounded half-up to the
    microsecond, so that the recorded quantity times the price is the recorded cost, exactly."""
    with localcontext(prec=40):
        return seconds.quantize(MICROSECOND, rounding=ROUND_HALF_UP)


def media_hold(endpoint: str, body: Mapping[str, Any], price: ModelPrice, seconds: Decimal | None) -> Decimal:
    """What a media call may cost at most, before it is made (what its budgets hold): `n` images at the table's
    price of their quality and size, every character of the text spoken, the seconds of the uploaded file when
    they are known (`seconds`; a file of unknown length holds nothing)."""
    with exact():
        if endpoint == "images":
            n = body.get("n")
            each = price.per_image_at(_text(body.get("quality")), _text(body.get("size"))) or Decimal(0)
            return (n if isinstance(n, int) and n > 0 else 1) * each
        if endpoint == "speech":
            return len(str(body.get("input") or "")) * (price.per_character or Decimal(0))
        return (seconds or Decimal(0)) * (price.per_second or Decimal(0))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def seconds_of_wav(data: bytes) -> Decimal | None:
    """How long a WAV file plays: its `data` chunk's bytes over the `fmt` chunk's byte rate, to the microsecond
    (`in_microseconds`: 44.1 kHz rates do not divide evenly); None when `data` is not a WAV file this can read."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    byte_rate = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk_id == b"fmt " and size >= 16 and pos + 20 <= len(data):
            byte_rate = struct.unpack_from("<I", data, pos + 16)[0]  # after the format, channels and sample rate
        elif chunk_id == b"data":
            if not byte_rate:
                return None
            length = min(size, len(data) - pos - 8)  # a streamed WAV may declare more than it holds
            with localcontext(prec=40):
                return in_microseconds(Decimal(length) / Decimal(byte_rate))
        pos += 8 + size + (size & 1)
    return None
