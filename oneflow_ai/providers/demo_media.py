"""The demo upstream's images and speech (`demo-image`, `demo-speech`), answered in OpenAI's wire format, so a first
run shows `/v1/images/generations` and `/v1/audio/speech` without a provider key.

`demo-image` makes a small valid PNG (64 x 64, one colour chosen by the prompt); `demo-speech` a second of silence
as a valid MP3 (MPEG-1 Layer III frames), WAV or raw PCM (24 kHz, 16-bit, mono, as OpenAI's `pcm`); the other
formats are refused as OpenAI refuses an unknown one (400). Transcriptions answer a fixed text.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
import zlib
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from oneflow_ai.upstream.wire import UpstreamRequest

IMAGE_SIDE = 64
SAMPLE_RATE = 24_000
MP3_FRAME = b"\xff\xfb\x90\xc4" + bytes(413)
"""One MPEG-1 Layer III frame of silence: 128 kbit/s, 44.1 kHz, mono; 417 bytes, 1152 samples (26 ms)."""
MP3_FRAMES_PER_SECOND = 39
CHUNK = 4096
AUDIO_TYPES = MappingProxyType({"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm"})
TRANSCRIPT = "This is OneFlow's demo transcription."


class MediaResponse:
    """An answer of the demo upstream: `body`, sent in `CHUNK`s when streamed."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.status = status
        self.headers: Mapping[str, str] = {"content-type": content_type}
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), CHUNK):
            yield self._body[start : start + CHUNK]

    def close(self) -> None:
        pass


def answer(request: UpstreamRequest) -> MediaResponse | None:
    """The demo's answer to a media request; None when `request` is not one (chat, embeddings)."""
    if request.url.endswith("/audio/transcriptions"):
        return MediaResponse(200, orjson.dumps({"text": TRANSCRIPT}))
    if request.url.endswith("/images/generations"):
        return MediaResponse(200, orjson.dumps(images(orjson.loads(request.body))))
    if request.url.endswith("/audio/speech"):
        body = orjson.loads(request.body)
        kind = body.get("response_format") or "mp3"
        if kind not in AUDIO_TYPES:
            message = f"demo-speech makes {', '.join(AUDIO_TYPES)}, not {kind!r}."
            error = {"error": {"message": message, "type": "invalid_request_error", "param": "response_format"}}
            return MediaResponse(400, orjson.dumps(error))
        return MediaResponse(200, speech(kind), AUDIO_TYPES[kind])
    return None


def images(body: Mapping[str, Any]) -> dict[str, Any]:
    n = body.get("n") or 1
    picture = png(IMAGE_SIDE, IMAGE_SIDE, hashlib.sha256(str(body.get("prompt")).encode()).digest()[:3])
    encoded = base64.b64encode(picture).decode()
    item = (
        {"url": f"data:image/png;base64,{encoded}"} if body.get("response_format") == "url" else {"b64_json": encoded}
    )
    return {"created": int(time.time()), "data": [item for _ in range(n)]}


def png(width: int, height: int, rgb: bytes) -> bytes:
    """A valid PNG of one colour (8-bit RGB, no interlace)."""
    raw = b"".join(b"\x00" + rgb * width for _ in range(height))  # each row: filter type 0, then its pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def speech(kind: str) -> bytes:
    """A second of silence as `kind` (mp3, wav or pcm)."""
    if kind == "mp3":
        return MP3_FRAME * MP3_FRAMES_PER_SECOND
    pcm = bytes(2 * SAMPLE_RATE)
    if kind == "pcm":
        return pcm
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, 2 * SAMPLE_RATE, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
