"""A fake ElevenLabs upstream: `POST /v1/text-to-speech/{voice_id}` and its `/stream`, as its API reference
describes them: the `xi-api-key` header, a JSON body with `text` and `model_id`, `output_format` in the query;
the audio answered in several writes (`AUDIO`). Errors as ElevenLabs writes them: `{"detail": {"status",
"message"}}` (a key it does not know, a voice it does not have), a validation error's `{"detail": [...]}`.
The text `cut-stream` is answered with one piece of audio, then the connection drops.
Every request is kept in `received` (path, query, headers, body) for assertions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

VOICE = "21m00Tcm4TlvDq8ikWAM"
"""Rachel, a premade voice."""
AUDIO = [b"\xff\xf3\x84\xc4" + bytes(200), b"\xff\xf3\x84\xc4" + bytes(200), b"\xff\xf3\x84\xc4" + bytes(100)]
TYPES = {"mp3": "audio/mpeg", "pcm": "audio/pcm", "opus": "audio/opus", "wav": "audio/wav"}


def detail(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"detail": {"status": code, "message": message}}, status=status)


class ElevenLabsUpstream:
    def __init__(self, key: str) -> None:
        self.key = key
        self.received: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/text-to-speech/{voice_id}", self.speak)
        self.app.router.add_post("/v1/text-to-speech/{voice_id}/stream", self.speak)

    async def speak(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(
            {"path": request.path, "query": dict(request.query), "headers": dict(request.headers), "body": body}
        )
        if request.headers.get("xi-api-key") != self.key:
            return detail(401, "invalid_api_key", "Invalid API key")
        if not isinstance(body.get("text"), str) or not body["text"]:
            return web.json_response(
                {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "value_error.missing"}]},
                status=422,
            )
        if request.match_info["voice_id"] != VOICE:
            voice = request.match_info["voice_id"]
            return detail(400, "voice_not_found", f"A voice with voice_id {voice} was not found.")
        if body["text"] == "fail-500":
            return detail(500, "internal_error", "An internal error occurred.")
        if body["text"] == "cut-stream":  # the connection drops after the first piece of audio
            response = web.StreamResponse(headers={"content-type": "audio/mpeg"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(AUDIO[0])
            assert request.transport is not None
            request.transport.close()
            return response
        kind = request.query.get("output_format", "mp3_44100_128").split("_")[0]
        response = web.StreamResponse(headers={"content-type": TYPES.get(kind, "application/octet-stream")})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in AUDIO:
            await response.write(piece)
        await response.write_eof()
        return response
