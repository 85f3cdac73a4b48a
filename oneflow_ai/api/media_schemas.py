"""Wire schemas of the images, speech and transcription endpoints, for the OpenAPI document (the hot path checks
the fields it relies on by hand: `gateway.media_calls`). Unknown fields are allowed and passed through upstream."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from oneflow_ai.api.schemas import Open
from oneflow_ai.gateway.media_calls import MAX_IMAGES, MAX_SPEECH_CHARACTERS


class ImageRequest(Open):
    model: str = Field(min_length=1, examples=["demo-image"])
    prompt: str = Field(min_length=1)
    n: int | None = Field(1, ge=1, le=MAX_IMAGES)
    size: str | None = None
    quality: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = None


class Images(Open):
    created: int
    data: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class SpeechRequest(Open):
    model: str = Field(min_length=1, examples=["demo-speech"])
    input: str = Field(min_length=1, max_length=MAX_SPEECH_CHARACTERS)
    voice: str = Field(min_length=1, examples=["alloy"])
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] | None = None
    speed: float | None = None


class Transcription(Open):
    text: str
