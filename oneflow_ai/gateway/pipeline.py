"""One request through the gateway: admit, rewrite, answer from a stage (a cache) or plan and call each planned
deployment until one serves, inspect the reply, record (the stages in `gateway.stages`).

Fallback is a plan and a loop: whether to go on after a failure is the error's own `retryable`. A round
tries each planned deployment once (the group's own, then its fallbacks'); further rounds, after an
exponential backoff with full jitter (or the upstream's `Retry-After`), retry within `max_attempts` and
the deadline; a deployment the error says not to try again (`deployment_retryable`: the request overflowed
its context, or its provider refused the gateway's key) is not. When every attempt failed, the client gets
`AllDeploymentsFailed` carrying each cause. A call the load balancer may send to two replicas is claimed right
before its first attempt, and refused where another replica claimed it (`gateway.balancer_claim`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import (
    AllDeploymentsFailed,
    AttemptElsewhere,
    GatewayError,
    InvalidRequest,
    ShuttingDown,
    UpstreamError,
    UpstreamUnavailable,
)
from oneflow_ai.gateway.accounting import Outcome, finish, finish_behind, intend
from oneflow_ai.gateway.answered import answered
from oneflow_ai.gateway.auto import resolve
from oneflow_ai.gateway.balancer_claim import Claims
from oneflow_ai.gateway.call import MEDIA_ENDPOINTS, Call, JSONReply, StreamReply
from oneflow_ai.gateway.media import check_mode, media_request, open_speech
from oneflow_ai.gateway.passthrough import native_request, open_native_stream, serves_natively
from oneflow_ai.gateway.relay import open_stream
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.gateway.stages import Admission, is_remote
from oneflow_ai.providers.auth import authorise
from oneflow_ai.providers.base import ProviderResult, Usage
from oneflow_ai.providers.embedding_list import as_requested


async def complete(gw: Gateway, call: Call) -> JSONReply | StreamReply:
    """Serve a chat completion or an embeddings call; every outcome is recorded exactly once."""
    group = resolve(gw, call)
    check_mode(call, group)
    stages = gw.stages
    served: JSONReply | StreamReply | None = None
    try:
        if gw.ledger.depth > gw.ledger.high_water:
            await gw.ledger.room()  # overloaded: wait for the ledger rather than queue records without bound
        await _admit(gw.admission, call)
        for rewriter in stages.rewriters:
            rewriter.rewrite(call)
        if stages.responders and call.native is None and call.endpoint not in MEDIA_ENDPOINTS:
            served = await _answer(gw, call)
    except GatewayError as e:
        gw.observers.rejected(call, e)
        finish(gw, call, Outcome("rejected", e.status, attempts=0))
        raise
    except Exception:  # an admission's own fault (a store that failed): the client gets a 500, still recorded
        finish(gw, call, Outcome("rejected", 500, attempts=0))
        raise
    except asyncio.CancelledError:
        if not gw.drain.cutting:
            raise
        raise _cut(gw, call, None, 0) from None
    if served is not None:  # recorded by `answered`
        return _inspected(gw, call, served)
    settings = gw.routing.settings
    deadline = call.started + settings.deadline_s
    errors: list[GatewayError] = []
    attempt = 0
    last: Deployment | None = None
    spent: set[str] = set()  # deployments this request may not try again (context overflowed, key refused)
    for round_ in range(settings.max_attempts):
        if round_ > 0:
            delay = gw.routing.retry_delay(round_ - 1, errors[-1], deadline - time.perf_counter())
            if delay is None:
                break
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:  # cut while waiting to try again
                if not gw.drain.cutting:
                    raise
                raise _cut(gw, call, last, attempt) from None
        worth_retrying = 0
        for dep in gw.routing.plan(call, group):
            if attempt == settings.max_attempts:
                break
            if dep.id in spent or not gw.routing.admit(dep):
                continue
            attempt += 1
            last = dep
            try:
                if attempt == 1 and call.balancer_id is not None and gw.claims is not None:
                    await _claim(gw.claims, call.balancer_id)
                reply, behind = await _attempt(gw, call, dep, attempt)
            except UpstreamError as e:
                errors.append(e)
                if not e.retryable:
                    raise _failed(gw, call, errors, dep, attempt) from None
                if not e.deployment_retryable:
                    spent.add(dep.id)
                else:
                    worth_retrying += 1
                continue
            except AttemptElsewhere as e:  # no deployment was called
                finish(gw, call, Outcome("rejected", e.status, attempts=0))
                raise
            except GatewayError as e:
                finish(gw, call, Outcome("rejected", e.status, dep, attempts=attempt))
                raise
            except asyncio.CancelledError:
                if not gw.drain.cutting:
                    raise
                raise _cut(gw, call, dep, attempt) from None
            if call.response_headers:
                reply.headers = {**reply.headers, **call.response_headers}
            try:
                return _inspected(gw, call, reply) if stages.reply_inspectors else reply
            finally:  # after the inspectors (what they found is in the record), before the reply is sent
                if behind is not None:
                    finish_behind(gw, call, behind)
        if worth_retrying == 0 or attempt == settings.max_attempts:
            break
    if not errors:
        errors.append(UpstreamUnavailable(f"No healthy deployment can serve '{call.model}' right now."))
    raise _failed(gw, call, errors, last, attempt)


async def _answer(gw: Gateway, call: Call) -> JSONReply | StreamReply | None:
    """The first responder's answer, if one answers: no upstream is called."""
    for responder in gw.stages.responders:
        answer = await responder.answer(call)
        if answer is not None:
            return answered(gw, call, answer)
    return None


async def _claim(claims: Claims, balancer_id: str) -> None:
    """Before a call's first upstream attempt: refuse it if another replica began it (`gateway.balancer_claim`)."""
    if not await claims.claim(balancer_id):
        raise AttemptElsewhere(
            "Another replica of the gateway began this call at the provider and stopped before answering; it is not"
            " sent again, so that it is not served and charged twice. Send it again as a new request if you need"
            " its answer."
        )


def _inspected(gw: Gateway, call: Call, reply: JSONReply | StreamReply) -> JSONReply | StreamReply:
    """The reply as the reply inspectors leave it (a stream's inspectors see it as it goes, in the relay)."""
    if isinstance(reply, JSONReply) and reply.wire == "openai":
        for inspector in gw.stages.reply_inspectors:
            reply = inspector.inspect(call, reply)
    return reply


async def _admit(admissions: tuple[Admission, ...], call: Call) -> None:
    started: list[Awaitable[None]] = []
    for admission in admissions:
        if is_remote(admission):
            started.append(admission.admit(call))  # its round trip is queued; awaited with the others below
            continue
        await _finish_all(started)
        started = []
        await admission.admit(call)
    await _finish_all(started)


async def _finish_all(started: list[Awaitable[None]]) -> None:
    """Await every started admission (each must settle its own state), then raise the first refusal."""
    refusal: BaseException | None = None
    for pending in started:
        try:
            await pending
        except GatewayError as e:
            refusal = refusal or e
    if refusal is not None:
        raise refusal


def _failed(
    gw: Gateway, call: Call, errors: list[GatewayError], dep: Deployment | None, attempts: int
) -> AllDeploymentsFailed:
    """Record the failure; the caller raises what this returns."""
    failure = AllDeploymentsFailed(errors)
    finish(gw, call, Outcome("upstream_error", failure.status, dep, attempts=attempts))
    return failure


def _cut(gw: Gateway, call: Call, dep: Deployment | None, attempts: int) -> ShuttingDown:
    """The shutdown's grace ran out during this call (`gateway.drain`): the task's cancellation is taken back so
    that the call is recorded and answered; the caller raises what this returns."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    finish(gw, call, Outcome("cut", ShuttingDown.status, dep, attempts=attempts))
    return ShuttingDown("The gateway is shutting down and this call did not finish in time; send it again.")


async def _attempt(
    gw: Gateway, call: Call, dep: Deployment, attempt: int
) -> tuple[JSONReply | StreamReply, Outcome | None]:
    """One upstream call, reported to the observers (health, breakers, metrics) however it ends. A stream's
    attempt ends with the stream: once its first chunk arrived (`stream_opened`), the relay reports its end. With
    the reply, the outcome the caller records once the reply inspectors have seen it (`record_behind`; None: the
    call is recorded already, or will be when its stream ends)."""
    native = call.native is not None and serves_natively(call, dep)  # the caller's protocol is the deployment's
    if native and gw.stages.inspects and call.native is not None and call.native.untranslatable is None:
        native = False  # translated, so that the inspectors read the answer in OpenAI's format
    gw.observers.attempt_started(call, dep)
    intend(gw, call, dep, attempt)
    started = time.perf_counter()
    try:
        if call.stream:
            opener = open_speech if call.endpoint == "speech" else open_native_stream if native else open_stream
            reply = await opener(gw, call, dep, attempt, started)
            gw.observers.stream_opened(call, dep)
            return reply, None
        if call.endpoint in MEDIA_ENDPOINTS:
            result = await media_request(gw, call, dep)
        else:
            result = await (native_request(gw, call, dep) if native else _request(gw, call, dep))
    except GatewayError as e:
        gw.observers.attempt_finished(call, dep, e, time.perf_counter() - started, None)
        raise
    except BaseException:
        gw.observers.attempt_finished(call, dep, None, time.perf_counter() - started, None)
        raise
    gw.observers.attempt_finished(call, dep, None, time.perf_counter() - started, None)
    usage, usage_source = result.usage, "upstream" if result.usage is not None else "none"
    if usage is None and call.endpoint == "embeddings":  # an upstream that reports none (Gemini's embeddings)
        usage, usage_source = Usage(_input_tokens(gw, call.body.get("input"))), "counted"
    outcome = Outcome("ok", 200, dep, usage, usage_source, result.model, attempts=attempt, metered=result.metered)
    if not gw.record_behind:
        finish(gw, call, outcome)
    wire = call.native.wire if native and call.native is not None else "openai"
    headers = served_headers(dep, attempt)
    if call.endpoint in MEDIA_ENDPOINTS:  # OpenAI's images or transcriptions: not for the chat inspectors
        wire = f"openai.{call.endpoint}"
        if result.content_type is not None:
            headers["content-type"] = result.content_type
    return JSONReply(result.body, headers, wire=wire, _parsed=result.parsed), outcome if gw.record_behind else None


async def _request(gw: Gateway, call: Call, dep: Deployment) -> ProviderResult:
    provider = gw.providers[dep.wire]
    body: dict[str, Any] = {**call.body, "model": dep.model}
    embedder = None
    if call.endpoint == "embeddings":
        embedder = gw.embedders.get(dep.wire)
        if embedder is None:
            raise InvalidRequest(f"The model '{call.model}' does not support embeddings.", param="model")
        request = embedder.embeddings_request(body, dep)
    else:
        request = provider.chat_request(body, dep, stream=False)
    await authorise(gw.upstream_auth[dep.id], request)
    response = await gw.transports[dep.id].send(request, stream=False)
    payload = await response.read()
    if response.status >= 400:
        raise provider.error(response.status, payload, response.headers, dep)
    if embedder is not None:
        result = embedder.embeddings_response(payload, dep)
        return as_requested(result, call.body) if getattr(embedder, "float_embeddings", False) else result
    return provider.chat_response(payload, dep)


def _input_tokens(gw: Gateway, value: Any) -> int:
    """The tokens of an embeddings `input`: text counted, token arrays as they are."""
    if isinstance(value, str):
        return gw.tokens.count_text(value)
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return len(value)
    return sum(_input_tokens(gw, v) for v in value) if isinstance(value, list) else 0


def served_headers(dep: Deployment, attempts: int) -> dict[str, str]:
    return {"x-oneflow-model": dep.model, "x-oneflow-provider": dep.provider, "x-oneflow-attempts": str(attempts)}
