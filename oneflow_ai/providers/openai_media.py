"""OpenAI's images, speech and transcription endpoints, as the OpenAI provider speaks them (`OpenAIMedia` is one of
its bases): `images/generations` (JSON both ways), `audio/speech` (JSON in, the audio bytes out) and
`audio/transcriptions` (a multipart form in; JSON, or text for `text`, `srt` and `vtt`, out).

The bodies go upstream as the client sent them, `model` changed; the answers come back as they are, read for
what they used: the images returned (and `gpt-image-1`'s token usage), the audio's `duration` (`verbose_json`) or
`usage` (`{"type": "duration", "seconds"}` for whisper, token counts for `gpt-4o-transcribe`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import UpstreamError
from oneflow_ai.pricing.media import Metered, in_microseconds
from oneflow_ai.providers.base import ProviderResult, Usage
from oneflow_ai.upstream.multipart import FormValue, encode_form
from oneflow_ai.upstream.wire import UpstreamRequest


class OpenAIMedia:
    """A base of `OpenAIProvider` (and so of Azure's, whose `url` puts the endpoint under its deployment)."""

    def url(self, deployment: Deployment, endpoint: str) -> str:
        return f"{deployment.url}/{endpoint}"

    def _send(self, deployment: Deployment, endpoint: str, headers: dict[str, str], body: bytes) -> UpstreamRequest:
        url = self.url(deployment, endpoint)
        return UpstreamRequest(
            "POST", url, {**headers, **deployment.headers}, body, deployment.timeouts, deployment.provider
        )

    def images_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        headers = {"content-type": "application/json", "accept": "application/json"}
        return self._send(deployment, "images/generations", headers, orjson.dumps(body))

    def images_response(self, body: bytes, deployment: Deployment, *, response_format: str) -> ProviderResult:
        parsed = _json_object(body, deployment)
        data = parsed.get("data")
        count = len(data) if isinstance(data, list) else 0
        quality, size = parsed.get("quality"), parsed.get("size")  # gpt-image-1 says which it made
        metered = Metered("images", Decimal(count), _text(quality), _text(size))
        return ProviderResult(body, _token_usage(parsed.get("usage")), None, parsed, metered)

    def speech_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        return self._send(deployment, "audio/speech", {"content-type": "application/json"}, orjson.dumps(body))

    def transcription_request(self, parts: Sequence[tuple[str, FormValue]], deployment: Deployment) -> UpstreamRequest:
        content_type, body = encode_form(parts)
        return self._send(deployment, "audio/transcriptions", {"content-type": content_type}, body)

    def transcription_response(self, body: bytes, content_type: str, deployment: Deployment) -> ProviderResult:
        if not content_type.startswith("application/json"):
            return ProviderResult(body, None, content_type=content_type)  # text, srt, vtt: they say no duration
        parsed = _json_object(body, deployment)
        usage = parsed.get("usage")
        seconds = parsed.get("duration")
        if seconds is None and isinstance(usage, Mapping) and usage.get("type") == "duration":
            seconds = usage.get("seconds")
        metered = None
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
            metered = Metered("seconds", in_microseconds(Decimal(str(seconds))))  # the number as written
        return ProviderResult(body, _token_usage(usage), None, parsed, metered)


def _token_usage(usage: Any) -> Usage | None:
    """OpenAI's media usage (`input_tokens`, `output_tokens`), when it reports tokens."""
    if not isinstance(usage, Mapping) or "input_tokens" not in usage:
        return None
    return Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _json_object(body: bytes, deployment: Deployment) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamError(
            f"{deployment.provider} sent a response that is not a JSON object", provider=deployment.provider
        )
    return parsed
