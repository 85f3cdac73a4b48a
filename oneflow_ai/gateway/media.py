"""One attempt of an images, speech or transcription call at one deployment (the pipeline's plan and loop, its
admissions, fallbacks and records, are the same as a chat call's).

Images and transcriptions are one request and one answer (`media_request`); speech is relayed as the upstream sends
the audio (`open_speech`), committed to the deployment once its first bytes arrived, so that a failure before
them can still fall back. What a call used is metered for its price (`pricing.media`): the images returned, the
characters of the text spoken (all of them, once the upstream started to answer: it bills them then), the seconds
of audio transcribed as the upstream reports them, or, when it does not (`text`, `srt` and `vtt` answers), as
long as the uploaded file plays when it is a WAV file (no duration otherwise: recorded with a quantity of 0).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from types import MappingProxyType

from oneflow_ai.config.schema import Deployment, ModelGroup
from oneflow_ai.errors import GatewayError, InvalidRequest, UpstreamError
from oneflow_ai.gateway.accounting import Outcome, finish
from oneflow_ai.gateway.call import Call, Receiver, StreamReply
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.pricing.media import Metered, seconds_of_wav
from oneflow_ai.providers.auth import authorise
from oneflow_ai.providers.base import (
    ImagesProvider,
    Provider,
    ProviderResult,
    SpeechProvider,
    TranscriptionProvider,
)
from oneflow_ai.upstream.multipart import FormValue
from oneflow_ai.upstream.wire import UpstreamRequest, UpstreamResponse

MODES: Mapping[str, str] = MappingProxyType(
    {"images": "image_generation", "speech": "audio_speech", "transcription": "audio_transcription"}
)
"""The model group `mode` each media call needs."""
WORDS = MappingProxyType({"images": "image generation", "speech": "speech", "transcription": "transcription"})


def check_mode(call: Call, group: ModelGroup) -> None:
    """A media call names a group of its mode, and a chat or embeddings call none of the media modes."""
    needed = MODES.get(call.endpoint)
    if needed is not None and group.mode != needed:
        raise InvalidRequest(
            f"The model '{call.model}' does not support {WORDS[call.endpoint]} (its mode is {group.mode}).",
            param="model",
        )
    if needed is None and group.mode in MODES.values():
        raise InvalidRequest(f"The model '{call.model}' is a {group.mode} model; call its endpoint.", param="model")


async def media_request(gw: Gateway, call: Call, dep: Deployment) -> ProviderResult:
    """An images or transcription call's answer from `dep`, metered."""
    provider = gw.every_provider[dep.wire]
    if call.endpoint == "images" and isinstance(provider, ImagesProvider):
        return await _images(gw, call, dep, provider)
    if call.endpoint == "transcription" and isinstance(provider, TranscriptionProvider):
        return await _transcription(gw, call, dep, provider)
    raise _incapable(call, dep)


async def _images(gw: Gateway, call: Call, dep: Deployment, provider: ImagesProvider) -> ProviderResult:
    request = provider.images_request({**call.body, "model": dep.model}, dep)
    response = await _send(gw, dep, provider, request, stream=False)
    payload = await response.read()
    result = provider.images_response(payload, dep, response_format=call.body.get("response_format") or "url")
    made = result.metered or Metered("images", Decimal(0))
    quality, size = made.quality or call.body.get("quality"), made.size or call.body.get("size")
    result.metered = Metered("images", made.quantity, quality, size)  # as made, else as asked
    return result


async def _transcription(gw: Gateway, call: Call, dep: Deployment, provider: TranscriptionProvider) -> ProviderResult:
    request = provider.transcription_request(form_parts(call, dep), dep)
    response = await _send(gw, dep, provider, request, stream=False)
    payload = await response.read()
    content_type = response.headers.get("content-type") or "application/json"
    result = provider.transcription_response(payload, content_type, dep)
    if result.metered is None:  # the upstream did not say how long: the file's length, when it is a WAV file
        seconds = seconds_of_wav(call.upload.data) if call.upload is not None else None
        result.metered = Metered("seconds", seconds if seconds is not None else Decimal(0))
    return result


async def open_speech(gw: Gateway, call: Call, dep: Deployment, attempt: int, started: float) -> StreamReply:
    """The audio from `dep`, once its first bytes arrived; the upstream's content type is the reply's."""
    provider = gw.every_provider[dep.wire]
    if not isinstance(provider, SpeechProvider):
        raise _incapable(call, dep)
    request = provider.speech_request({**call.body, "model": dep.model}, dep)
    response = await _send(gw, dep, provider, request, stream=True)
    chunks = aiter(response.iter_chunks())
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        response.close()
        raise UpstreamError(f"{dep.provider} answered no audio", provider=dep.provider) from None
    except BaseException:
        response.close()
        raise
    now = time.perf_counter()
    metered = Metered("characters", Decimal(len(call.body["input"])))
    outcome = Outcome("ok", 200, dep, ttft_s=now - call.started, attempts=attempt, metered=metered)
    headers = {
        "content-type": response.headers.get("content-type") or "application/octet-stream",
        "x-oneflow-model": dep.model,
        "x-oneflow-provider": dep.provider,
        "x-oneflow-attempts": str(attempt),
    }
    receiver = Receiver()
    return StreamReply(
        _relay(gw, call, dep, response, first, chunks, outcome, receiver, now - started), headers, receiver
    )


async def _relay(
    gw: Gateway,
    call: Call,
    dep: Deployment,
    response: UpstreamResponse,
    first: bytes,
    chunks: AsyncIterator[bytes],
    outcome: Outcome,
    receiver: Receiver,
    first_chunk_s: float,
) -> AsyncIterator[bytes]:
    """The audio bytes as they come, untouched; recorded once however the stream ends (as `gateway.relay`)."""
    failure: GatewayError | None = None
    finished = False
    try:
        yield first
        async for chunk in chunks:
            yield chunk
        finished = True
        if receiver.left:
            outcome.status, outcome.http_status = "client_closed", 499
    except GatewayError as e:  # the upstream failed mid-way: audio has no error frame, so the response is broken
        failure = e  # off (raised on: the client sees a truncated body, never a complete one, nor does idempotency)
        outcome.status, outcome.http_status = "upstream_error", e.status
        raise
    except BaseException:
        if gw.drain.cutting:
            outcome.status, outcome.http_status = "cut", 503
        else:
            outcome.status, outcome.http_status = ("client_closed" if finished else "client_aborted"), 499
        raise
    finally:
        response.close()
        gw.observers.attempt_finished(call, dep, failure, first_chunk_s, first_chunk_s)
        finish(gw, call, outcome)


async def _send(
    gw: Gateway, dep: Deployment, provider: Provider, request: UpstreamRequest, *, stream: bool
) -> UpstreamResponse:
    await authorise(gw.upstream_auth[dep.id], request)
    response = await gw.transports[dep.id].send(request, stream=stream)
    if response.status >= 400:
        raise provider.error(response.status, await response.read(), response.headers, dep)
    return response


def form_parts(call: Call, dep: Deployment) -> list[tuple[str, FormValue]]:
    """A form call's parts to send upstream: its text fields (`model` the deployment's), then its file."""
    parts: list[tuple[str, FormValue]] = [("model", dep.model)]
    for name, value in call.body.items():
        if name != "model":
            parts += [(name, str(v)) for v in (value if isinstance(value, list) else [value])]
    if call.upload is not None:
        parts.append(("file", call.upload))
    return parts


def _incapable(call: Call, dep: Deployment) -> InvalidRequest:
    """A deployment whose provider has not got the call's capability (in a fallback group of another mode)."""
    return InvalidRequest(
        f"Provider {dep.provider} cannot serve {WORDS[call.endpoint]} for '{call.model}'.", param="model"
    )
