"""`POST /v1/messages/count_tokens`: how many input tokens an Anthropic Messages request would take.

A model served by an Anthropic deployment is asked (its own `/v1/messages/count_tokens`, the caller's body and
`anthropic-version` / `anthropic-beta` headers passed as they came, `model` set to the deployment's), since only
Anthropic knows its tokenizer; its answer goes back as it came. A model whose deployments speak another protocol
is counted by the gateway's own tokenizer (`pricing.TokenCounter`) on the request translated to chat
completions, as the gateway estimates a call before it is made. The key must be allowed the model (as for any
call). Counting is free upstream and produces nothing, so it is not recorded in the ledger and not held against
budgets or rate limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from oneflow_ai.auth.principal import Principal
from oneflow_ai.config.schema import Deployment
from oneflow_ai.errors import GatewayError, InvalidRequest, Untranslatable, UpstreamError
from oneflow_ai.gateway.call import Call, JSONReply
from oneflow_ai.gateway.pipeline import served_headers
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.identity.model_access import ModelAccess
from oneflow_ai.providers.anthropic import API_VERSION
from oneflow_ai.providers.anthropic_inbound import openai_request_from_messages, stand_in_for_messages
from oneflow_ai.providers.anthropic_native import ANTHROPIC_MESSAGES
from oneflow_ai.providers.auth import authorise
from oneflow_ai.upstream.wire import UpstreamRequest


async def count_tokens(
    gw: Gateway, request_id: str, principal: Principal, body: Any, client_headers: Mapping[str, str]
) -> JSONReply:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Field required", param="model")
    group = gw.group(model)
    chat = _chat_body(body)
    ModelAccess(gw.models).admit(Call(request_id, principal, "count_tokens", chat, model))
    anthropic = [d for d in group.deployments if ANTHROPIC_MESSAGES.serves(d)]
    if not anthropic:
        tokens = gw.tokens.count_messages(chat["messages"], chat.get("tools"))
        headers = {"x-oneflow-model": group.deployments[0].model, "x-oneflow-token-count": "gateway"}
        return JSONReply(orjson.dumps({"input_tokens": tokens}), headers, wire="anthropic")
    failure: GatewayError | None = None
    for attempt, dep in enumerate(anthropic, 1):
        try:
            payload = await _ask(gw, dep, body, client_headers)
        except UpstreamError as e:
            failure = e
            if not e.retryable:
                break
            continue
        headers = {**served_headers(dep, attempt), "x-oneflow-token-count": "upstream"}
        return JSONReply(payload, headers, wire="anthropic")
    assert failure is not None
    raise failure


async def _ask(gw: Gateway, dep: Deployment, body: dict[str, Any], client_headers: Mapping[str, str]) -> bytes:
    headers = {"content-type": "application/json", "anthropic-version": API_VERSION, **client_headers}
    headers.update(dep.headers)
    payload = orjson.dumps({**body, "model": dep.model})
    url = f"{dep.url}/v1/messages/count_tokens"
    request = UpstreamRequest("POST", url, headers, payload, dep.timeouts, dep.provider)
    await authorise(gw.upstream_auth[dep.id], request)
    response = await gw.transports[dep.id].send(request, stream=False)
    answer = await response.read()
    if response.status >= 400:
        raise gw.providers[dep.wire].error(response.status, answer, response.headers, dep)
    return answer


def _chat_body(body: dict[str, Any]) -> dict[str, Any]:
    """The request as chat completions (what the gateway's tokenizer counts); `max_tokens`, which counting does not
    take, stands in as 1."""
    with_limit = {**body, "max_tokens": 1, "stream": False}
    try:
        return openai_request_from_messages(with_limit)
    except Untranslatable:  # a server tool, say: counted as its JSON
        return stand_in_for_messages(with_limit)
