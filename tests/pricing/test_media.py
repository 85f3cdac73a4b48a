"""Pricing images, speech and transcription (`pricing.media`): exact, by the catalog's tables."""

from __future__ import annotations

import struct
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.pricing import CatalogError, PriceCatalog
from oneflow_ai.pricing.media import Metered, in_microseconds, media_usd, seconds_of_wav

CATALOG = PriceCatalog.load()


def wav(data_bytes: int, rate: int, channels: int = 1, bits: int = 16, extra: bytes = b"") -> bytes:
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", data_bytes)
    chunks += bytes(data_bytes)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


@pytest.mark.parametrize(
    ("model", "quality", "size", "each"),
    [
        ("dall-e-3", "hd", "1792x1024", "0.120"),
        ("dall-e-3", "standard", "1024x1792", "0.080"),
        ("dall-e-3", None, None, "0.040"),  # the defaults: standard, 1024x1024
        ("dall-e-3", "hd", None, "0.080"),  # hd's first size
        ("dall-e-2", None, "256x256", "0.016"),
        ("gpt-image-1", "high", "1536x1024", "0.25"),
        ("gpt-image-1", "auto", "1024x1536", "0.063"),  # auto is priced as medium, the first listed
        ("stable-image-ultra", None, None, "0.08"),  # no table: per_image
        ("dall-e-3", "ultra", "9x9", "0.040"),  # not in the table: per_image
    ],
)
def test_per_image_by_quality_and_size(model: str, quality: str | None, size: str | None, each: str) -> None:
    price = CATALOG.require(model)
    assert media_usd(price, Metered("images", Decimal(3), quality, size)) == 3 * Decimal(each)


def test_reported_tokens_win_where_the_model_has_token_prices() -> None:
    """gpt-image-1 bills tokens: 50 in at $5/1M, 1056 out at $40/1M = $0.04249; dall-e-3 has no token prices."""
    image = Metered("images", Decimal(1), "medium", "1024x1024")
    assert media_usd(CATALOG.require("gpt-image-1"), image, 50, 1056) == Decimal("0.04249")
    assert media_usd(CATALOG.require("dall-e-3"), image, 50, 1056) == Decimal("0.040")


def test_characters_and_seconds() -> None:
    assert media_usd(CATALOG.require("tts-1"), Metered("characters", Decimal(29))) == Decimal("0.000435")
    assert media_usd(CATALOG.require("eleven_flash_v2_5"), Metered("characters", Decimal(1000))) == Decimal("0.05")
    assert media_usd(CATALOG.require("whisper-1"), Metered("seconds", Decimal("60"))) == Decimal("0.006")
    assert media_usd(CATALOG.require("whisper-1"), Metered("characters", Decimal(5))) is None  # no such price


def test_seconds_of_wav() -> None:
    assert seconds_of_wav(wav(96_000, 16_000)) == Decimal(3)
    assert seconds_of_wav(wav(44_100 * 4, 44_100, channels=2)) == Decimal(1)
    assert seconds_of_wav(wav(1000, 44_100)) == Decimal("0.011338")  # 1000 / 88200 to the microsecond
    list_chunk = b"LIST" + struct.pack("<I", 5) + b"abcde\x00"  # an odd chunk, padded, before the data
    assert seconds_of_wav(wav(32_000, 16_000, extra=list_chunk)) == Decimal(1)
    assert seconds_of_wav(b"ID3\x04" + bytes(100)) is None
    assert seconds_of_wav(wav(100, 16_000)[:30]) is None  # cut before its data chunk


@given(st.integers(0, 10**7), st.sampled_from([8_000, 16_000, 22_050, 24_000, 44_100, 48_000]))
def test_wav_seconds_are_the_data_over_the_byte_rate(data_bytes: int, rate: int) -> None:
    header = wav(0, rate)
    data = header[:-4] + struct.pack("<I", data_bytes)  # a header that declares more than it holds is read as held
    assert seconds_of_wav(data + bytes(min(data_bytes, 64))) == in_microseconds(
        Decimal(min(data_bytes, 64)) / Decimal(2 * rate)
    )


def test_image_prices_are_checked_at_load() -> None:
    entry = {
        "provider": "x",
        "mode": "image",
        "per_image": "0.01",
        "supports_tools": False,
        "supports_vision": False,
        "quality": 0.5,
    }
    with pytest.raises(CatalogError, match="unquoted number"):
        PriceCatalog.from_dict(
            {"prices_as_of": "2025-01-01", "models": {"m": {**entry, "image_prices": {"hd": {"1x1": 0.5}}}}}
        )
    with pytest.raises(CatalogError, match="image_prices must map"):
        PriceCatalog.from_dict({"prices_as_of": "2025-01-01", "models": {"m": {**entry, "image_prices": ["hd"]}}})
