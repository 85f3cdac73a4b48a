"""Stability AI's image generation (`provider: stability`): the v2beta `stable-image/generate/{core,ultra,sd3}` API.

The deployment's `model` names the API: `stable-image-core`, `stable-image-ultra`, or `sd3` (its default model,
SD 3.5 Large) or one of its models (`sd3.5-large`, `sd3.5-large-turbo`, `sd3.5-medium`), sent as the form's
`model`. The request is a multipart form (`to_stability`): the prompt, OpenAI's `size` as the nearest of
Stability's aspect ratios, OpenAI's `output_format` (png, jpeg, webp), and Stability's own fields when the client
sends them (`negative_prompt`, `seed`, `style_preset`, `aspect_ratio`). It answers one image per request, as
base64 JSON (`accept: application/json`), which becomes OpenAI's answer (`from_stability`): `b64_json`, or for
`response_format: url` a `data:` URL (Stability keeps no image to link to). The key is a bearer token
(`STABILITY_API_KEY`). Errors (`{"name", "errors": [...]}`) keep their messages; a 403 `content_moderation` is the
caller's prompt refused, not the gateway's key.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import InvalidRequest, UpstreamError, UpstreamRejected, upstream_error_for_status
from oneflow_ai.pricing.media import Metered
from oneflow_ai.providers.auth import Auth, bearer
from oneflow_ai.providers.base import ProviderResult, keep_rate_limit
from oneflow_ai.upstream.multipart import FormValue, encode_form
from oneflow_ai.upstream.wire import UpstreamRequest

API = MappingProxyType({"stable-image-core": "core", "stable-image-ultra": "ultra", "sd3": "sd3"})
SD3_MODELS = ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3-large", "sd3-large-turbo", "sd3-medium")
ASPECT_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
PASSED = ("negative_prompt", "seed", "style_preset", "aspect_ratio")
"""Stability's own fields, sent as given when the client's body has them."""
FORMATS = ("png", "jpeg", "webp")
MAGIC = (("iVBOR", "png"), ("/9j/", "jpeg"), ("UklGR", "webp"))
"""How each format's base64 begins (its file signature encoded)."""


class StabilityProvider:
    def auth(self, deployment: Deployment, environ: Mapping[str, str]) -> Auth:
        return bearer(deployment.resolve_key(environ), deployment.headers)

    def images_request(self, body: dict[str, Any], deployment: Deployment) -> UpstreamRequest:
        content_type, form = encode_form(to_stability(body))
        headers = {"content-type": content_type, "accept": "application/json", **deployment.headers}
        url = f"{deployment.url}/v2beta/stable-image/generate/{api_of(deployment.model)}"
        return UpstreamRequest("POST", url, headers, form, deployment.timeouts, deployment.provider)

    def images_response(self, body: bytes, deployment: Deployment, *, response_format: str) -> ProviderResult:
        parsed = _json(body)
        image = parsed.get("image") if isinstance(parsed, dict) else None
        if not isinstance(image, str):
            raise UpstreamError(f"{deployment.provider} sent no image", provider=deployment.provider)
        reply = from_stability(parsed, response_format, int(time.time()))
        return ProviderResult(orjson.dumps(reply), None, deployment.model, reply, Metered("images", Decimal(1)))

    def error(self, status: int, body: bytes, headers: Mapping[str, str], deployment: Deployment) -> UpstreamError:
        return stability_error(status, body, headers, deployment.provider, deployment=deployment.id)


def api_of(model: str) -> str:
    """The API path segment a deployment's `model` names."""
    return "sd3" if model in SD3_MODELS else API.get(model, model)


def to_stability(body: Mapping[str, Any]) -> list[tuple[str, FormValue]]:
    """OpenAI's `images/generations` body as Stability's form fields."""
    if (body.get("n") or 1) != 1:
        raise InvalidRequest("Stability AI makes one image per request: 'n' must be 1.", param="n")
    parts: list[tuple[str, FormValue]] = [("prompt", str(body["prompt"]))]
    if body.get("model") in SD3_MODELS:
        parts.append(("model", str(body["model"])))
    output = body.get("output_format") or "png"
    if output not in FORMATS:
        raise InvalidRequest(f"'output_format' must be one of {', '.join(FORMATS)}", param="output_format")
    parts.append(("output_format", str(output)))
    ratio = aspect_ratio(body.get("size"))
    if ratio is not None and "aspect_ratio" not in body:
        parts.append(("aspect_ratio", ratio))
    parts += [(name, str(body[name])) for name in PASSED if body.get(name) is not None]
    return parts


def from_stability(reply: Mapping[str, Any], response_format: str, created: int) -> dict[str, Any]:
    """Stability's JSON answer (`image`, base64) as OpenAI's images answer."""
    image = str(reply["image"])
    kind = next((k for prefix, k in MAGIC if image.startswith(prefix)), "png")
    item = {"url": f"data:image/{kind};base64,{image}"} if response_format == "url" else {"b64_json": image}
    return {"created": created, "data": [item]}


def aspect_ratio(size: Any) -> str | None:
    """OpenAI's `WIDTHxHEIGHT` as the nearest of Stability's aspect ratios (None for none or `auto`)."""
    if size is None or size == "auto":
        return None
    width, _, height = str(size).partition("x")
    if not (width.isdigit() and height.isdigit()) or not int(width) or not int(height):
        raise InvalidRequest(f"'size' must be WIDTHxHEIGHT, not {size!r}", param="size")
    wanted = int(width) / int(height)
    return min(ASPECT_RATIOS, key=lambda r: abs(int(r.split(":")[0]) / int(r.split(":")[1]) - wanted))


def stability_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str, *, deployment: str = ""
) -> UpstreamError:
    parsed = _json(body)
    detail = parsed if isinstance(parsed, dict) else {}
    errors = detail.get("errors")
    message = (
        "; ".join(map(str, errors)) if isinstance(errors, list) and errors else body[:500].decode(errors="replace")
    )
    name = detail.get("name")
    if status == 403 and name == "content_moderation":  # the prompt was refused, not the gateway's key
        err: UpstreamError = UpstreamRejected(f"{provider}: {message}", provider=provider, upstream_status=status)
        err.status = 400
    else:
        err = upstream_error_for_status(
            status, f"{provider}: {message or f'HTTP {status}'}", provider=provider, deployment=deployment
        )
    if isinstance(err, UpstreamRejected) and isinstance(name, str):
        err.code = name
    return keep_rate_limit(err, headers)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
