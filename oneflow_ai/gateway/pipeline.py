"""One request through the gateway: plan the deployments, try each until one serves, price, record.

Fallback is a plan and a loop: whether to go on after a failure is the error's own `retryable`; when
every planned deployment failed, the client gets `AllDeploymentsFailed` carrying each cause.
"""

from __future__ import annotations

import time
from typing import Any

from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import AllDeploymentsFailed, GatewayError, InvalidRequest, UpstreamError
from oneflow_ai.gateway.accounting import Outcome, record
from oneflow_ai.gateway.call import Call, JSONReply, StreamReply
from oneflow_ai.gateway.relay import open_stream
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.providers.base import ProviderResult


async def complete(gw: Gateway, call: Call) -> JSONReply | StreamReply:
    """Serve a chat completion or an embeddings call; every outcome is recorded exactly once."""
    group = gw.group(call.model)
    errors: list[GatewayError] = []
    for attempt, dep in enumerate(gw.plan(group), start=1):
        try:
            if call.stream:
                return await open_stream(gw, call, dep, attempt)
            result = await _request(gw, call, dep)
        except UpstreamError as e:
            errors.append(e)
            if not e.retryable:
                break
            continue
        except GatewayError as e:
            gw.ledger.record(record(call, Outcome("rejected", e.status, dep, attempts=attempt), gw.pricing))
            raise
        usage_source = "upstream" if result.usage is not None else "none"
        outcome = Outcome("ok", 200, dep, result.usage, usage_source, result.model, attempts=attempt)
        gw.ledger.record(record(call, outcome, gw.pricing))
        return JSONReply(result.body, served_headers(dep, attempt))
    failure = AllDeploymentsFailed(errors)
    gw.ledger.record(record(call, Outcome("upstream_error", failure.status, attempts=len(errors)), gw.pricing))
    raise failure


async def _request(gw: Gateway, call: Call, dep: Deployment) -> ProviderResult:
    provider = gw.providers[dep.wire]
    body: dict[str, Any] = {**call.body, "model": dep.model}
    if call.endpoint == "embeddings":
        if not hasattr(provider, "embeddings_request"):
            raise InvalidRequest(f"The model '{call.model}' does not support embeddings.", param="model")
        request = provider.embeddings_request(body, dep, gw.keys[dep.id])
    else:
        request = provider.chat_request(body, dep, gw.keys[dep.id], stream=False)
    response = await gw.transports[dep.wire].send(request, stream=False)
    payload = await response.read()
    if response.status >= 400:
        raise provider.error(response.status, payload, response.headers, dep)
    if call.endpoint == "embeddings":
        return provider.embeddings_response(payload, dep)  # type: ignore[attr-defined, no-any-return]
    return provider.chat_response(payload, dep)


def served_headers(dep: Deployment, attempts: int) -> dict[str, str]:
    return {"x-oneflow-model": dep.model, "x-oneflow-provider": dep.provider, "x-oneflow-attempts": str(attempts)}


def elapsed(since: float) -> float:
    return time.perf_counter() - since
