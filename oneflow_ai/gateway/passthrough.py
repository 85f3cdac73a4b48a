"""Native passthrough: a call whose caller speaks a provider's own protocol (`Call.native`), served by a deployment
speaking the same one, goes upstream untranslated and comes back as it came.

The protocols are `providers.native.NativeProtocol`s: Anthropic to Anthropic (`/v1/messages` served by an Anthropic
deployment: the caller's body and its `anthropic-version` / `anthropic-beta` headers go upstream) and OpenAI's
Responses API to OpenAI (`/v1/responses` served by an `openai` deployment). `model` is set to the deployment's,
and the upstream's answer, or its SSE events, go back byte for byte. Nothing is translated; the accounting reads
the usage, cache reads and writes included. A call that has no OpenAI form (an Anthropic server tool, a Responses
`previous_response_id`) goes only to a deployment the protocol serves; the others are passed over
(`NoFormForDeployment`). A stream is recorded as `gateway.relay` records one (`ok`, `upstream_error`,
`client_aborted`, `client_closed`, `cut`), its attempt reported when it ends; an upstream that fails mid-way, or
ends before its protocol's last event, ends the client's stream with the protocol's error event (the upstream's
own error event passes through as it came).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import GatewayError, NoFormForDeployment, UpstreamError
from oneflow_ai.gateway.accounting import Outcome, finish
from oneflow_ai.gateway.call import Call, NativeBody, Receiver, StreamReply
from oneflow_ai.gateway.relay import send_stream, stream_headers
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.providers.auth import authorise
from oneflow_ai.providers.base import ProviderResult, Usage
from oneflow_ai.providers.native import NativeStreamWatch
from oneflow_ai.upstream.decoders import StreamDecoder, StreamEvent
from oneflow_ai.upstream.wire import UpstreamResponse


def serves_natively(call: Call, dep: Deployment) -> bool:
    """The deployment speaks the caller's own protocol: the call goes to it untranslated. `NoFormForDeployment`
    when it does not and the call cannot be translated (the next planned deployment is tried)."""
    native = call.native
    if native is None:
        return False
    if native.protocol.serves(dep):
        return True
    if native.untranslatable is not None:
        problem = native.untranslatable
        raise NoFormForDeployment(problem.message, param=problem.param, provider=dep.provider)
    return False


async def native_request(gw: Gateway, call: Call, dep: Deployment) -> ProviderResult:
    """The upstream's answer as it came (`body`), with its usage."""
    native = _native(call)
    provider = gw.providers[dep.wire]
    request = native.protocol.request(native.body, dep, native.headers, stream=False)
    await authorise(gw.upstream_auth[dep.id], request)
    response = await gw.transports[dep.id].send(request, stream=False)
    payload = await response.read()
    if response.status >= 400:
        raise provider.error(response.status, payload, response.headers, dep)
    usage, model = native.protocol.reply_usage(payload, dep.provider)
    return ProviderResult(payload, usage, model)


async def open_native_stream(gw: Gateway, call: Call, dep: Deployment, attempt: int, started: float) -> StreamReply:
    """The upstream's stream, once its first chunk arrived (as `relay.open_stream`)."""
    native = _native(call)
    provider = gw.providers[dep.wire]
    request = native.protocol.request(native.body, dep, native.headers, stream=True)
    response, first, chunks = await send_stream(gw, dep, request)
    now = time.perf_counter()
    outcome = Outcome("ok", 200, dep, ttft_s=now - call.started, attempts=attempt)
    headers = stream_headers(dep, attempt)
    receiver = Receiver()
    decoder = provider.stream_decoder(dep)  # the deployment's own wire format, which the caller speaks too
    frames = _relay(gw, call, dep, response, first, chunks, decoder, outcome, receiver, now - started)
    return StreamReply(frames, headers, receiver, wire=native.wire)


async def _relay(
    gw: Gateway,
    call: Call,
    dep: Deployment,
    response: UpstreamResponse,
    first: bytes,
    chunks: AsyncIterator[bytes],
    parser: StreamDecoder,
    outcome: Outcome,
    receiver: Receiver,
    first_chunk_s: float,
) -> AsyncIterator[bytes]:
    """Each upstream read goes out as it came; the watch sees its events (as `parser` decodes them) on the way."""
    native = _native(call)
    watch = native.protocol.watch()
    finished = False
    failure: GatewayError | None = None
    try:
        _watch(parser.feed(first), watch)
        yield first
        async for chunk in chunks:
            _watch(parser.feed(chunk), watch)
            yield chunk
        _watch(parser.flush(), watch)
        if watch.error is not None:  # the upstream's own error event has gone to the client as it came
            failure = UpstreamError(f"{dep.provider}: {watch.error}", provider=dep.provider)
            outcome.status, outcome.http_status = "upstream_error", failure.status
        elif not watch.stopped:
            raise UpstreamError(f"{dep.provider}: ended the stream before its last event", provider=dep.provider)
        finished = True
        if receiver.left:
            outcome.status, outcome.http_status = "client_closed", 499
    except GatewayError as e:
        failure = e
        outcome.status, outcome.http_status = "upstream_error", e.status
        yield native.protocol.stream_error(e.message)
    except (asyncio.CancelledError, GeneratorExit):
        if gw.drain.cutting:
            outcome.status, outcome.http_status = "cut", 503
        else:
            outcome.status, outcome.http_status = ("client_closed" if finished else "client_aborted"), 499
        raise
    finally:
        response.close()
        if failure is None and finished and watch.usage is not None:
            outcome.usage, outcome.usage_source = watch.usage, "upstream"
        else:
            outcome.usage, outcome.usage_source = _counted(gw, call, watch), "counted"
        outcome.served_model = watch.model
        gw.observers.attempt_finished(call, dep, failure, first_chunk_s, first_chunk_s)
        finish(gw, call, outcome)


def _watch(events: list[StreamEvent], watch: NativeStreamWatch) -> None:
    for event in events:
        watch.feed(event)


def _counted(gw: Gateway, call: Call, watch: NativeStreamWatch) -> Usage:
    """The prompt as the upstream reported it at the start (else counted), and the tokens produced so far."""
    reported = watch.usage
    prompt = reported.prompt_tokens if reported else gw.tokens.count_messages(call.body["messages"])
    cached, written = (reported.cached_tokens, reported.cache_write_tokens) if reported else (0, 0)
    return Usage(prompt, gw.tokens.count_text(watch.completion_text()), cached, written)


def _native(call: Call) -> NativeBody:
    if call.native is None:  # `serves_natively` was checked first
        raise RuntimeError("a native call without its native body")
    return call.native
