"""A fake OpenAI upstream for images, speech and transcriptions, answering in OpenAI's exact wire format (the shapes
of its API reference's examples).

  POST /v1/images/generations   dall-e-3: `data[]` of `url` or `b64_json` with `revised_prompt`; gpt-image-1:
                                `b64_json` with `quality`, `size` and token `usage`; `fake-error-500`: a 500
  POST /v1/audio/speech         the audio (`SPEECH`) in several writes, `content-type: audio/mpeg`
  POST /v1/audio/transcriptions a multipart form: `json` (whisper: `usage` of type duration, gpt-4o-transcribe:
                                of type tokens), `verbose_json` (`duration`), `text`, `srt`, `vtt` as text
Every request is kept in `received` (its path, headers, and JSON body or form) for assertions.
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import error

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SPEECH = [b"ID3\x04\x00\x00\x00\x00\x00\x00", b"\xff\xfb\x90\xc4" + bytes(413), b"\xff\xfb\x90\xc4" + bytes(413)]
TRANSCRIPT = "The quick brown fox jumped over the lazy dog."
DURATION = 8.470000267028809
"""verbose_json's `duration` (a float as OpenAI writes it)."""
WHISPER_SECONDS = 9
"""whisper-1's json `usage.seconds` (whole seconds)."""
IMAGE_USAGE = {
    "input_tokens": 50,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
    "output_tokens": 1056,
    "total_tokens": 1106,
}
TRANSCRIBE_USAGE = {
    "type": "tokens",
    "input_tokens": 14,
    "input_token_details": {"text_tokens": 0, "audio_tokens": 14},
    "output_tokens": 45,
    "total_tokens": 59,
}


class OpenAIMediaUpstream:
    def __init__(self, key: str) -> None:
        self.key = key
        self.received: list[dict[str, Any]] = []
        self.app = web.Application(client_max_size=30 * 1024 * 1024)
        self.app.router.add_post("/v1/images/generations", self.images)
        self.app.router.add_post("/v1/audio/speech", self.speech)
        self.app.router.add_post("/v1/audio/transcriptions", self.transcriptions)

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        return None

    async def images(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if (refused := self._refused(request)) is not None:
            return refused
        if body["model"] == "fake-error-500":
            return error(500, "The server had an error while processing your request.", "server_error")
        if body["model"] == "fake-400":
            return error(
                400,
                "Your request was rejected as a result of our safety system.",
                "invalid_request_error",
                "content_policy_violation",
            )
        image = base64.b64encode(PNG).decode()
        n = body.get("n") or 1
        if body["model"] == "gpt-image-1":
            return web.json_response(
                {
                    "created": 1713833628,
                    "background": "opaque",
                    "data": [{"b64_json": image} for _ in range(n)],
                    "output_format": "png",
                    "quality": "medium",
                    "size": "1024x1024",
                    "usage": IMAGE_USAGE,
                }
            )
        if body.get("response_format") == "b64_json":
            item = {"b64_json": image, "revised_prompt": f"A picture of {body['prompt']}"}
        else:
            item = {"url": "https://oaidalleapiprodscus.blob.core.windows.net/private/img-1.png", "revised_prompt": "x"}
        return web.json_response({"created": 1713833628, "data": [item for _ in range(n)]})

    async def speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if (refused := self._refused(request)) is not None:
            return refused
        response = web.StreamResponse(headers={"content-type": "audio/mpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in SPEECH:
            await response.write(piece)
        await response.write_eof()
        return response

    async def transcriptions(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        self.received.append(
            {
                "path": request.path,
                "headers": dict(request.headers),
                "form": fields,
                "file": (upload.filename, upload.content_type, upload.file.read()) if upload is not None else None,  # type: ignore[union-attr]
            }
        )
        if (refused := self._refused(request)) is not None:
            return refused
        if upload is None or "model" not in fields:
            return error(400, "you must provide a model parameter", "invalid_request_error", param="model")
        kind = fields.get("response_format", "json")
        if kind == "text":
            return web.Response(text=TRANSCRIPT + "\n", content_type="text/plain")
        if kind == "srt":
            return web.Response(text=f"1\n00:00:00,000 --> 00:00:08,470\n{TRANSCRIPT}\n\n", content_type="text/plain")
        if kind == "vtt":
            return web.Response(
                text=f"WEBVTT\n\n00:00:00.000 --> 00:00:08.470\n{TRANSCRIPT}\n\n", content_type="text/plain"
            )
        if kind == "verbose_json":
            segment = {"id": 0, "seek": 0, "start": 0.0, "end": DURATION, "text": TRANSCRIPT, "tokens": [440, 3344]}
            return web.json_response(
                {
                    "task": "transcribe",
                    "language": "english",
                    "duration": DURATION,
                    "text": TRANSCRIPT,
                    "segments": [segment],
                }
            )
        if fields["model"] == "gpt-4o-transcribe":
            return web.json_response({"text": TRANSCRIPT, "usage": TRANSCRIBE_USAGE})
        return web.json_response({"text": TRANSCRIPT, "usage": {"type": "duration", "seconds": WHISPER_SECONDS}})
