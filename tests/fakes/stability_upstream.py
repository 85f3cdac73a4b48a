"""A fake Stability AI upstream: `POST /v2beta/stable-image/generate/{core,ultra,sd3}` as its API reference
describes it. It checks what Stability checks: a bearer key, a multipart/form-data body with a `prompt`, an
`accept` of `application/json` (base64 JSON: `image`, `finish_reason`, `seed`) or `image/*` (the bytes), an
`output_format` it makes, a `model` only on sd3. Errors come as Stability writes them: `{"id", "name", "errors"}`.
A prompt `fail-500` gets a 500, one containing `forbidden` a 403 `content_moderation`.
Every request is kept in `received` (path, headers, form fields) for assertions.
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from tests.fakes.openai_media_upstream import PNG

SEED = 3349480346


def stability_error(status: int, name: str, *errors: str) -> web.Response:
    return web.json_response({"id": "a1b2c3d4e5f6", "name": name, "errors": list(errors)}, status=status)


class StabilityUpstream:
    def __init__(self, key: str) -> None:
        self.key = key
        self.received: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/v2beta/stable-image/generate/{api}", self.generate)

    async def generate(self, request: web.Request) -> web.Response:
        api = request.match_info["api"]
        if api not in ("core", "ultra", "sd3"):
            return stability_error(404, "not_found", f"no such API: {api}")
        if not request.content_type == "multipart/form-data":
            return stability_error(400, "bad_request", "content-type: must be multipart/form-data")
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        self.received.append({"path": request.path, "headers": dict(request.headers), "form": fields})
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return stability_error(401, "unauthorized", "authorization: invalid or missing API key")
        if not fields.get("prompt"):
            return stability_error(400, "bad_request", "prompt: cannot be empty")
        if "model" in fields and api != "sd3":
            return stability_error(400, "bad_request", "model: not accepted by this endpoint")
        if fields.get("output_format", "png") not in ("png", "jpeg", "webp"):
            return stability_error(400, "bad_request", "output_format: must be one of png, jpeg, webp")
        if fields["prompt"] == "fail-500":
            return stability_error(500, "internal_error", "An unexpected server error occurred, please try again.")
        if "forbidden" in fields["prompt"]:
            return stability_error(
                403, "content_moderation", "Your request was flagged by our content moderation system."
            )
        accept = request.headers.get("accept", "image/*")
        if accept == "application/json":
            return web.json_response(
                {"image": base64.b64encode(PNG).decode(), "finish_reason": "SUCCESS", "seed": SEED}
            )
        if accept.startswith("image/"):
            return web.Response(body=PNG, content_type="image/png", headers={"finish-reason": "SUCCESS"})
        return stability_error(400, "bad_request", "accept: must be image/* or application/json")
