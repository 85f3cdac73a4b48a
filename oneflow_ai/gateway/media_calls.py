"""Images, speech and transcription requests, parsed into a `Call`: the few fields the gateway relies on are checked
(as OpenAI's API checks them); every other field passes through untouched."""

from __future__ import annotations

from typing import Any

from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.call import Call, _model, _object, _strategy, end_user_of, steering
from oneflow_ai.upstream.multipart import FormFile

IMAGE_FORMATS = ("url", "b64_json")
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
MAX_IMAGES = 10
MAX_SPEECH_CHARACTERS = 4096
"""OpenAI's limits: images per request, characters of text to speak."""


def images_call(
    request_id: str, principal: Principal, body: Any, end_user_header: str | None, strategy_header: str | None = None
) -> Call:
    body, fallbacks, strategy = steering(_object(body), strategy_header)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("'prompt' must be a non-empty string", param="prompt")
    n = body.get("n", 1)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES):
        raise InvalidRequest(f"'n' must be an integer from 1 to {MAX_IMAGES}", param="n")
    _one_of(body, "response_format", IMAGE_FORMATS)
    for name in ("size", "quality"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise InvalidRequest(f"'{name}' must be a string", param=name)
    return _call(request_id, principal, "images", body, end_user_header, fallbacks, strategy)


def speech_call(
    request_id: str, principal: Principal, body: Any, end_user_header: str | None, strategy_header: str | None = None
) -> Call:
    body, fallbacks, strategy = steering(_object(body), strategy_header)
    text = body.get("input")
    if not isinstance(text, str) or not text:
        raise InvalidRequest("'input' must be a non-empty string", param="input")
    if len(text) > MAX_SPEECH_CHARACTERS:
        raise InvalidRequest(f"'input' must be at most {MAX_SPEECH_CHARACTERS} characters", param="input")
    if not isinstance(body.get("voice"), str) or not body["voice"]:
        raise InvalidRequest("'voice' must be a voice name (or, for ElevenLabs, a voice id)", param="voice")
    _one_of(body, "response_format", SPEECH_FORMATS)
    call = _call(request_id, principal, "speech", body, end_user_header, fallbacks, strategy)
    call.stream = True  # the audio is relayed as it arrives
    return call


def transcription_call(
    request_id: str,
    principal: Principal,
    fields: dict[str, Any],
    upload: FormFile | None,
    end_user_header: str | None,
    strategy_header: str | None = None,
) -> Call:
    """`fields`: the form's text fields (a repeated one as a list); `upload`: its `file`."""
    body, fallbacks, strategy = steering(fields, strategy_header)
    if upload is None:
        raise InvalidRequest("'file' must be an uploaded audio file", param="file")
    if not upload.data:
        raise InvalidRequest("The uploaded file is empty.", param="file")
    _one_of(body, "response_format", TRANSCRIPT_FORMATS)
    call = _call(request_id, principal, "transcription", body, end_user_header, fallbacks, strategy)
    call.upload = upload
    return call


def _call(
    request_id: str,
    principal: Principal,
    endpoint: str,
    body: dict[str, Any],
    end_user_header: str | None,
    fallbacks: tuple[str, ...],
    strategy: str | None,
) -> Call:
    model = _model(body)
    end_user = end_user_of(body, end_user_header)
    return Call(
        request_id,
        principal,
        endpoint,
        body,
        model,
        end_user=end_user,
        fallbacks=fallbacks,
        strategy=_strategy(strategy),
    )


def _one_of(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    value = body.get(name)
    if value is not None and value not in allowed:
        raise InvalidRequest(f"'{name}' must be one of {', '.join(allowed)}", param=name)
