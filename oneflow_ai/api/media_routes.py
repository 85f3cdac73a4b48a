"""OpenAI's images, speech and transcription endpoints (declared in `operations.OPERATIONS`). Handlers are thin:
authenticate, parse (JSON, or the multipart form of a transcription), run the pipeline."""

from __future__ import annotations

from typing import Any

from oneflow_ai.api.fast_lane import Inbound, Reply
from oneflow_ai.api.multipart import parse_form
from oneflow_ai.api.openai_routes import _serve, authenticated
from oneflow_ai.gateway.media_calls import images_call, speech_call, transcription_call
from oneflow_ai.gateway.pipeline import complete


async def serve_images(inbound: Inbound) -> Reply:
    return await _serve(inbound, images_call)


async def serve_speech(inbound: Inbound) -> Reply:
    return await _serve(inbound, speech_call)


async def serve_transcription(inbound: Inbound) -> Reply:
    principal = await authenticated(inbound)
    form = parse_form(inbound.body, inbound.header(b"content-type"))
    fields: dict[str, Any] = {}
    for name, value in form.parts:
        if isinstance(value, str):  # a list field (`timestamp_granularities[]`) keeps each of its values
            fields[name] = [*fields.get(name, []), value] if name.endswith("[]") else value
    call = transcription_call(
        inbound.request_id,
        principal,
        fields,
        form.file("file"),
        inbound.header(b"x-user-id"),
        inbound.header(b"x-oneflow-strategy"),
    )
    call.client_request_id = inbound.client_request_id
    call.balancer_id = inbound.balancer_id
    return await complete(inbound.gateway, call)
