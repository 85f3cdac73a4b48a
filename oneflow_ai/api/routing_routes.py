"""OneFlow's routing API under `/api/v1`: which model for a request and what it would cost (`/route`, and
`/estimate` without a `model`, which billing serves through `route_decision`), a prompt served by
`model: "auto"` (`/request`), and each deployment's health and circuit breaker (`/admin/routing/health`: the
master key, and every tenant's owners, admins and viewers; the deployments serve every tenant, so each sees the
same report). Handlers are thin."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, Field
from starlette.responses import Response

from oneflow_ai.api.deps import CallerDep, ConsoleDep, GatewayDep
from oneflow_ai.api.responses import JSONBytes
from oneflow_ai.api.schemas import ERRORS, CompletionLimit, Tokens
from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.gateway.auto import AUTO
from oneflow_ai.gateway.balancer_claim import HEADER, balancer_id
from oneflow_ai.gateway.call import JSONReply, chat_call
from oneflow_ai.gateway.health_view import routing_health
from oneflow_ai.gateway.pipeline import complete
from oneflow_ai.gateway.routing_report import completion_json, decision_json
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.identity.roles import Can, require
from oneflow_ai.routing.intelligent import IntelligentRouter, parse_strategy
from oneflow_ai.routing.profile import Modality, parse_modality
from oneflow_ai.routing.strategy import RoutingStrategy

router = APIRouter(tags=["Routing"], responses=ERRORS)

ModalityName = Annotated[str, AfterValidator(lambda v: parse_modality(v).value)]


class RouteRequest(BaseModel):
    input_tokens: Tokens = Field(examples=[1500])
    output_tokens: Tokens = Field(0, examples=[500])
    strategy: RoutingStrategy = RoutingStrategy.BALANCED
    modality: ModalityName = Field("text", description="text (or chat), embedding, image, audio")
    needs_tools: bool = False
    needs_vision: bool = False
    scope: Literal["gateway", "catalog"] = Field(
        "gateway",
        description="gateway: the models this gateway serves (what model auto would pick); "
        "catalog: every model in the price catalog",
    )


class PromptRequest(BaseModel):
    prompt: str = Field(min_length=1)
    strategy: RoutingStrategy = RoutingStrategy.BALANCED
    modality: ModalityName = "text"
    max_tokens: CompletionLimit | None = None
    fallbacks: list[str] = Field(default_factory=list)


@router.post("/route", summary="Choose a model for a request of this size (the routing decision)")
async def route(body: RouteRequest, gw: GatewayDep, principal: CallerDep) -> Response:
    return JSONBytes(
        orjson.dumps(
            route_decision(
                gw,
                principal,
                body.input_tokens,
                body.output_tokens,
                body.strategy,
                body.modality,
                needs_tools=body.needs_tools,
                needs_vision=body.needs_vision,
                scope=body.scope,
            )
        )
    )


@router.post("/request", summary="Serve a prompt with model auto: route, call, and report text, usage and cost")
async def prompt(body: PromptRequest, request: Request, gw: GatewayDep, principal: CallerDep) -> Response:
    if parse_modality(body.modality) is not Modality.TEXT:
        raise InvalidRequest("POST /api/v1/request serves text prompts only.", param="modality")
    chat: dict[str, object] = {
        "model": AUTO,
        "messages": [{"role": "user", "content": body.prompt}],
        "strategy": body.strategy.value,
        "fallbacks": body.fallbacks,
    }
    if body.max_tokens is not None:
        chat["max_tokens"] = body.max_tokens
    call = chat_call(request.state.request_id, principal, chat, request.headers.get("x-user-id"))
    call.balancer_id = balancer_id(request.headers.get(HEADER.decode()))
    reply = await complete(gw, call)
    assert isinstance(reply, JSONReply)  # not streamed
    return JSONBytes(
        orjson.dumps(completion_json(gw.pricing, reply.json(), reply.headers)), headers=dict(reply.headers)
    )


@router.get("/admin/routing/health", summary="Each deployment's observed health and circuit breaker")
async def get_routing_health(gw: GatewayDep, p: ConsoleDep) -> Response:
    require(p, Can.READ_TENANT)
    return JSONBytes(orjson.dumps(routing_health(gw)))


def route_decision(
    gw: Gateway,
    principal: Principal,
    input_tokens: int,
    output_tokens: int,
    strategy: str | None = None,
    modality: str | None = None,
    *,
    needs_tools: bool = False,
    needs_vision: bool = False,
    scope: str = "gateway",
) -> dict[str, object]:
    """The routing decision as JSON: among the models this gateway serves (what `model: "auto"` would pick,
    with the live health), or, for `scope="catalog"`, among every model in the price catalog. Also serves
    `POST /api/v1/estimate` without a `model`."""
    try:
        how = parse_strategy(strategy or RoutingStrategy.BALANCED)
    except ValueError as e:
        raise InvalidRequest(str(e), param="strategy") from None
    try:
        kind = parse_modality(modality or Modality.TEXT)
    except ValueError as e:
        raise InvalidRequest(str(e), param="modality") from None
    if scope == "catalog":
        decision = IntelligentRouter(gw.pricing).route(
            input_tokens, output_tokens, how, kind, needs_tools=needs_tools, needs_vision=needs_vision
        )
    else:
        decision = gw.auto.decide(
            input_tokens,
            output_tokens,
            how,
            kind,
            needs_tools=needs_tools,
            needs_vision=needs_vision,
            health=gw.routing.health.view(),
            allowed=principal.allowed_models,
        )
    return decision_json(decision, input_tokens, output_tokens, kind.value)
