"""Streaming: open the upstream stream, then relay it chunk by chunk as it arrives: decoded by its provider's decoder
(`ChatProvider.stream_decoder`, `upstream.decoders`), each event translated and encoded as OpenAI's SSE frames.

The stream is committed to a deployment only once its first chunk arrived, so a failure before any byte
reached the client can still fall back. After that, an upstream failure ends the stream with an OpenAI
error event. However the stream ends, one record is written: `ok`; `upstream_error`; `client_aborted` (the
client left before the upstream finished: the relay was cancelled and the upstream call closed); `client_closed`
(the upstream finished, but its client had left by then: the answer was produced, not delivered); `cut` (the
shutdown's grace ran out, see `gateway.drain`). A stream whose upstream finished is charged the usage the upstream
reported; any other, the tokens counted in what was produced so far. A client that asked for the usage
(`stream_options.include_usage`) gets it in the last chunk: the upstream's, or the gateway's own count when the
upstream sent none (a server that ignores `stream_options`).

The attempt lasts as long as its stream: the observers hear of its end (`attempt_finished`) when the stream
ends, after its first chunk (`stream_opened`). An upstream failure mid-way is a failure of the deployment (its
breaker and health count it); a client that left, or the shutdown's cut, is not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import GatewayError, UpstreamError
from oneflow_ai.gateway.accounting import Outcome, finish
from oneflow_ai.gateway.call import Call, Receiver, StreamReply
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.gateway.stream_guard import GuardStopped, StreamGuard, stream_guard
from oneflow_ai.providers.auth import authorise
from oneflow_ai.providers.base import StreamTranslator, Usage
from oneflow_ai.upstream.decoders import StreamDecoder, StreamEvent
from oneflow_ai.upstream.sse import frame
from oneflow_ai.upstream.wire import UpstreamRequest, UpstreamResponse

SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}


async def open_stream(gw: Gateway, call: Call, dep: Deployment, attempt: int, started: float) -> StreamReply:
    """The stream, once its first chunk arrived; `started` is when the attempt started (`time.perf_counter`)."""
    provider = gw.providers[dep.wire]
    request = provider.chat_request({**call.body, "model": dep.model}, dep, stream=True)
    response, first, chunks = await send_stream(gw, dep, request)
    now = time.perf_counter()
    ttft = now - call.started
    translator = provider.chat_stream(dep, client_wants_usage=call.wants_usage)
    outcome = Outcome("ok", 200, dep, ttft_s=ttft, attempts=attempt)
    headers = stream_headers(dep, attempt)
    receiver = Receiver()
    guard = stream_guard(gw.stages, call)
    decoder = provider.stream_decoder(dep)
    frames = _relay(
        gw, call, dep, response, first, chunks, decoder, translator, outcome, receiver, now - started, guard
    )
    return StreamReply(frames, headers, receiver)


async def send_stream(
    gw: Gateway, dep: Deployment, request: UpstreamRequest
) -> tuple[UpstreamResponse, bytes, AsyncIterator[bytes]]:
    """Authorise and send a streamed request; return once its first chunk arrived (the response, that chunk, the
    rest). An error status, or a stream that ends before its first byte, is the deployment's error."""
    await authorise(gw.upstream_auth[dep.id], request)
    response = await gw.transports[dep.id].send(request, stream=True)
    if response.status >= 400:
        raise gw.providers[dep.wire].error(response.status, await response.read(), response.headers, dep)
    chunks = aiter(response.iter_chunks())
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        response.close()
        message = f"{dep.provider} closed the stream without sending anything"
        raise UpstreamError(message, provider=dep.provider) from None
    except BaseException:
        response.close()
        raise
    return response, first, chunks


def stream_headers(dep: Deployment, attempt: int) -> dict[str, str]:
    return {
        **SSE_HEADERS,
        "x-oneflow-model": dep.model,
        "x-oneflow-provider": dep.provider,
        "x-oneflow-attempts": str(attempt),
    }


async def _relay(
    gw: Gateway,
    call: Call,
    dep: Deployment,
    response: UpstreamResponse,
    first: bytes,
    chunks: AsyncIterator[bytes],
    decoder: StreamDecoder,
    translator: StreamTranslator,
    outcome: Outcome,
    receiver: Receiver,
    first_chunk_s: float,
    guard: StreamGuard | None,
) -> AsyncIterator[bytes]:
    """`first_chunk_s`: the attempt's time to its first chunk, its latency sample for the observers (how long the
    rest takes says how long the answer is, not how fast the deployment is). `decoder`: the upstream's wire format
    (its provider's `stream_decoder`: SSE, JSON lines...). `guard`: the stream inspectors' (`gateway.stream_guard`),
    None when none watches this stream."""
    finished = False
    failure: GatewayError | None = None
    counted: Usage | None = None
    try:
        # What one upstream read carried goes out as one write (not one per event): the same bytes at the same
        # moment, with a system call per read instead of per frame.
        out = _translate(decoder.feed(first), translator)
        if guard is not None:
            out = guard.feed(out)
        if out:
            yield b"".join(out)
        async for chunk in chunks:
            out = _translate(decoder.feed(chunk), translator)
            if guard is not None:
                out = guard.feed(out)
            if out:
                yield b"".join(out)
        out = _translate(decoder.flush(), translator)
        if call.wants_usage and translator.usage is None:  # the client asked; the upstream did not say
            counted = _counted(gw, call, translator)
        out += translator.finish(counted)
        if guard is not None:
            out = guard.feed(out)
        finished = True
        if out:
            yield b"".join(out)
        if receiver.left:
            outcome.status, outcome.http_status = "client_closed", 499
    except GatewayError as e:
        failure = e
        outcome.status, outcome.http_status = "upstream_error", e.status
        yield frame(orjson.dumps(e.body()))
    except GuardStopped as stop:  # an inspector ended the stream: not the deployment's failure
        outcome.status, outcome.http_status = "rejected", stop.error.status
        yield frame(orjson.dumps(stop.error.body()))
    except (asyncio.CancelledError, GeneratorExit):
        if gw.drain.cutting:
            outcome.status, outcome.http_status = "cut", 503
        else:
            outcome.status, outcome.http_status = ("client_closed" if finished else "client_aborted"), 499
        raise
    finally:
        response.close()
        complete = finished and failure is None
        outcome.usage, outcome.usage_source = _usage(gw, call, translator, complete=complete, counted=counted)
        gw.observers.attempt_finished(call, dep, failure, first_chunk_s, first_chunk_s)
        finish(gw, call, outcome)


def _translate(events: list[StreamEvent], translator: StreamTranslator) -> list[bytes]:
    if len(events) == 1:
        return translator.feed(events[0])
    out: list[bytes] = []
    for event in events:
        out += translator.feed(event)
    return out


def _usage(
    gw: Gateway, call: Call, translator: StreamTranslator, *, complete: bool, counted: Usage | None
) -> tuple[Usage, str]:
    """The upstream's usage for a stream that completed and reported it; otherwise the tokens counted (`counted`,
    when they were already, for the client)."""
    if complete and translator.usage is not None:
        return translator.usage, "upstream"
    return (counted if complete and counted is not None else _counted(gw, call, translator)), "counted"


def _counted(gw: Gateway, call: Call, translator: StreamTranslator) -> Usage:
    """The tokens counted in what was produced so far (the prompt's as the upstream reported them, when it did)."""
    prompt = translator.usage.prompt_tokens if translator.usage else gw.tokens.count_messages(call.body["messages"])
    return Usage(prompt, gw.tokens.count_text(translator.completion_text()))
