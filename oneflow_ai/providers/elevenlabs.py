"""ElevenLabs' text to speech (`provider: elevenlabs`): `POST /v1/text-to-speech/{voice_id}/stream`.

OpenAI's `audio/speech` body becomes ElevenLabs' (`to_elevenlabs`): `input` is the `text`, the deployment's
`model` the `model_id` (`eleven_multilingual_v2`, `eleven_flash_v2_5`...), OpenAI's `voice` carries the voice id
(in the path), `response_format` chooses the `output_format` (mp3: `mp3_44100_128`, pcm: `pcm_24000`, which is
OpenAI's 24 kHz 16-bit PCM, opus: `opus_48000_128`, wav: `wav_44100`; aac and flac ElevenLabs does not make),
unless the client names ElevenLabs' own `output_format`; `speed` goes into `voice_settings`, and ElevenLabs'
own `voice_settings`, `language_code` and `seed` pass as given. The `/stream` endpoint answers the same audio as
`/v1/text-to-speech/{voice_id}`, sent as it is made, which the gateway relays as it arrives. The key is the
`xi-api-key` header (`ELEVENLABS_API_KEY`). Errors (`{"detail": {"status", "message"}}`, or a validation error's
list) keep their messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import InvalidRequest, UpstreamError, UpstreamRejected, upstream_error_for_status
from oneflow_ai.providers.auth import Auth, header_key
from oneflow_ai.providers.base import keep_rate_limit
from oneflow_ai.upstream.wire import UpstreamRequest

OUTPUT_FORMATS = MappingProxyType(
    {"mp3": "mp3_44100_128", "pcm": "pcm_24000", "opus": "opus_48000_128", "wav": "wav_44100"}
)
PASSED = ("voice_settings", "language_code", "seed")


class ElevenLabsProvider:
    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        return header_key("xi-api-key", deployment.resolve_key(environ), deployment.headers)

    def speech_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        payload, output_format = to_elevenlabs(body)
        voice = quote(str(body["voice"]), safe="")
        url = f"{deployment.url}/v1/text-to-speech/{voice}/stream?{urlencode({'output_format': output_format})}"
        headers = {"content-type": "application/json", "accept": "audio/*", **deployment.headers}
        return UpstreamRequest("POST", url, headers, orjson.dumps(payload), deployment.timeouts, deployment.provider)

    def error(self, status: int, body: bytes, headers: Mapping[str, str], deployment: Deployment) -> UpstreamError:
        return elevenlabs_error(status, body, headers, deployment.provider, deployment=deployment.id)


def to_elevenlabs(body: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """OpenAI's speech body as ElevenLabs' JSON body, and the `output_format` to ask for."""
    payload: dict[str, Any] = {"text": body["input"], "model_id": body["model"]}
    payload |= {name: body[name] for name in PASSED if body.get(name) is not None}
    if body.get("speed") is not None:
        payload["voice_settings"] = {**(payload.get("voice_settings") or {}), "speed": body["speed"]}
    output_format = body.get("output_format")
    if not isinstance(output_format, str):
        kind = body.get("response_format") or "mp3"
        if kind not in OUTPUT_FORMATS:
            raise InvalidRequest(
                f"ElevenLabs makes {', '.join(OUTPUT_FORMATS)}, not {kind!r}.", param="response_format"
            )
        output_format = OUTPUT_FORMATS[kind]
    return payload, output_format


def elevenlabs_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str, *, deployment: str = ""
) -> UpstreamError:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    detail = parsed.get("detail") if isinstance(parsed, dict) else None
    code = None
    if isinstance(detail, dict):
        message, code = str(detail.get("message") or detail), detail.get("status")
    elif isinstance(detail, list):  # a validation error: [{"loc": [...], "msg": "...", "type": "..."}]
        message = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    else:
        message = body[:500].decode(errors="replace") or f"HTTP {status}"
    err = upstream_error_for_status(status, f"{provider}: {message}", provider=provider, deployment=deployment)
    if isinstance(err, UpstreamRejected) and isinstance(code, str):
        err.code = code
    return keep_rate_limit(err, headers)
