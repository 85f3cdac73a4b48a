"""The media providers' translations, named by direction, and their error mapping (pure: no I/O)."""

from __future__ import annotations

import io
import wave
from decimal import Decimal

import orjson
import pytest

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import InvalidRequest, UpstreamAuthFailed, UpstreamError, UpstreamRateLimited, UpstreamRejected
from oneflow_ai.providers import demo_media
from oneflow_ai.providers.elevenlabs import ElevenLabsProvider, elevenlabs_error, to_elevenlabs
from oneflow_ai.providers.openai import OpenAIProvider
from oneflow_ai.providers.stability import (
    StabilityProvider,
    aspect_ratio,
    from_stability,
    stability_error,
    to_stability,
)
from oneflow_ai.upstream.wire import UpstreamRequest

OPENAI = Deployment(provider="openai", model="whisper-1", id="w")


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ("1024x1024", "1:1"),
        ("1792x1024", "16:9"),
        ("1024x1792", "9:16"),
        ("1536x1024", "3:2"),
        ("auto", None),
        (None, None),
    ],
)
def test_aspect_ratio(size: str | None, ratio: str | None) -> None:
    assert aspect_ratio(size) == ratio


def test_to_stability() -> None:
    body = {"model": "sd3.5-medium", "prompt": "a cat", "size": "1024x1536", "seed": 7, "user": "u1"}
    assert to_stability(body) == [
        ("prompt", "a cat"),
        ("model", "sd3.5-medium"),
        ("output_format", "png"),
        ("aspect_ratio", "2:3"),
        ("seed", "7"),
    ]
    assert ("model", "stable-image-core") not in to_stability({"model": "stable-image-core", "prompt": "x"})
    for bad in ({"n": 2}, {"output_format": "gif"}, {"size": "wide"}):
        with pytest.raises(InvalidRequest):
            to_stability({"model": "stable-image-core", "prompt": "x", **bad})


def test_stability_request_url() -> None:
    provider = StabilityProvider()
    for model, api in (("stable-image-ultra", "ultra"), ("sd3", "sd3"), ("sd3.5-large", "sd3")):
        dep = Deployment(provider="stability", model=model)
        request = provider.images_request({"model": model, "prompt": "x"}, dep)
        assert request.url == f"https://api.stability.ai/v2beta/stable-image/generate/{api}"
        assert request.headers["accept"] == "application/json"
        assert request.headers["content-type"].startswith("multipart/form-data; boundary=")


def test_from_stability() -> None:
    reply = {"image": "iVBORw0KGgo=", "finish_reason": "SUCCESS", "seed": 1}
    assert from_stability(reply, "b64_json", 5) == {"created": 5, "data": [{"b64_json": "iVBORw0KGgo="}]}
    assert from_stability({"image": "/9j/4AAQ"}, "url", 5)["data"] == [{"url": "data:image/jpeg;base64,/9j/4AAQ"}]


def test_stability_errors() -> None:
    def body(name: str, *errors: str) -> bytes:
        return orjson.dumps({"id": "x", "name": name, "errors": list(errors)})

    bad = stability_error(400, body("bad_request", "prompt: cannot be empty", "seed: too big"), {}, "stability")
    assert isinstance(bad, UpstreamRejected) and bad.status == 400 and bad.code == "bad_request"
    assert bad.message == "stability: prompt: cannot be empty; seed: too big"
    moderated = stability_error(403, body("content_moderation", "flagged"), {}, "stability")
    assert isinstance(moderated, UpstreamRejected) and moderated.status == 400
    assert isinstance(stability_error(401, body("unauthorized", "bad key"), {}, "stability"), UpstreamAuthFailed)
    limited = stability_error(429, body("rate_limit_exceeded", "slow down"), {"retry-after": "7"}, "stability")
    assert isinstance(limited, UpstreamRateLimited) and limited.retry_after == 7.0
    broken = stability_error(500, b"<html>oops</html>", {}, "stability")
    assert type(broken) is UpstreamError and broken.retryable and "oops" in broken.message


def test_to_elevenlabs() -> None:
    body = {"model": "eleven_flash_v2_5", "input": "hi", "voice": "v", "response_format": "wav", "speed": 0.9}
    assert to_elevenlabs(body) == (
        {"text": "hi", "model_id": "eleven_flash_v2_5", "voice_settings": {"speed": 0.9}},
        "wav_44100",
    )
    own = {**body, "output_format": "mp3_22050_32", "voice_settings": {"stability": 0.5}, "speed": None}
    assert to_elevenlabs(own) == (
        {"text": "hi", "model_id": "eleven_flash_v2_5", "voice_settings": {"stability": 0.5}},
        "mp3_22050_32",
    )
    with pytest.raises(InvalidRequest):
        to_elevenlabs({**body, "response_format": "aac"})
    request = ElevenLabsProvider().speech_request(
        {**body, "voice": "a/b"}, Deployment(provider="elevenlabs", model="eleven_flash_v2_5")
    )
    assert request.url == "https://api.elevenlabs.io/v1/text-to-speech/a%2Fb/stream?output_format=wav_44100"


def test_elevenlabs_errors() -> None:
    voice = orjson.dumps({"detail": {"status": "voice_not_found", "message": "A voice was not found."}})
    err = elevenlabs_error(400, voice, {}, "elevenlabs")
    assert isinstance(err, UpstreamRejected) and err.code == "voice_not_found"
    assert err.message == "elevenlabs: A voice was not found."
    invalid = orjson.dumps({"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]})
    assert elevenlabs_error(422, invalid, {}, "elevenlabs").message == "elevenlabs: field required"
    key = orjson.dumps({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
    assert isinstance(elevenlabs_error(401, key, {}, "elevenlabs"), UpstreamAuthFailed)


def test_openai_transcription_answers() -> None:
    provider = OpenAIProvider()
    verbose = provider.transcription_response(b'{"text": "x", "duration": 2.0000004}', "application/json", OPENAI)
    assert verbose.metered is not None and verbose.metered.quantity == Decimal("2.000000")
    usage = b'{"text": "x", "usage": {"type": "duration", "seconds": 3}}'
    assert provider.transcription_response(usage, "application/json", OPENAI).metered.quantity == 3  # type: ignore[union-attr]
    tokens = b'{"text": "x", "usage": {"type": "tokens", "input_tokens": 14, "output_tokens": 45, "total_tokens": 59}}'
    counted = provider.transcription_response(tokens, "application/json", OPENAI)
    assert counted.metered is None and counted.usage is not None and counted.usage.completion_tokens == 45
    text = provider.transcription_response(b"hello\n", "text/plain; charset=utf-8", OPENAI)
    assert (text.metered, text.content_type, text.body) == (None, "text/plain; charset=utf-8", b"hello\n")


def test_demo_media_is_valid() -> None:
    from PIL import Image

    def request(path: str, body: dict[str, object]) -> UpstreamRequest:
        return UpstreamRequest("POST", f"demo://local{path}", {}, orjson.dumps(body), OPENAI.timeouts, "demo")

    import asyncio
    import base64

    image = demo_media.answer(request("/images/generations", {"model": "demo-image", "prompt": "x", "n": 2}))
    assert image is not None
    data = orjson.loads(asyncio.run(image.read()))["data"]
    assert len(data) == 2
    picture = Image.open(io.BytesIO(base64.b64decode(data[0]["b64_json"])))
    picture.verify()
    assert picture.format == "PNG" and picture.size == (64, 64)
    wav = demo_media.answer(request("/audio/speech", {"model": "demo-speech", "input": "x", "response_format": "wav"}))
    assert wav is not None and wav.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(asyncio.run(wav.read()))) as w:
        assert (w.getframerate(), w.getnframes(), w.getsampwidth()) == (24_000, 24_000, 2)
    mp3 = asyncio.run(demo_media.answer(request("/audio/speech", {"input": "x"})).read())  # type: ignore[union-attr]
    frames = [mp3[i : i + 417] for i in range(0, len(mp3), 417)]
    assert len(frames) == 39 and all(f[:2] == b"\xff\xfb" and len(f) == 417 for f in frames)
    refused = demo_media.answer(request("/audio/speech", {"input": "x", "response_format": "flac"}))
    assert refused is not None and refused.status == 400
