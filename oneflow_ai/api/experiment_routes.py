"""A/B experiments in the admin API, and clients' feedback on their calls.

- `GET /api/v1/admin/experiments`: the experiments the caller's tenant sees (its own and those for every tenant);
- `POST /api/v1/admin/experiments` `{name, model, variants: [{name, model, weight}], sticky?, tenant_id?}`: owners
  and admins start one for their tenant; the master key for every tenant (no `tenant_id`) or one;
- `GET /api/v1/admin/experiments/{id}`, `POST /api/v1/admin/experiments/{id}/end`;
- `GET /api/v1/admin/experiments/{id}/results`: per variant, from the ledger (`experiments.results`);
- `POST /api/v1/feedback` `{request_id, score, comment?}`: the virtual key that made the call (or an owner or admin
  of its tenant, or the master key) scores it; a second post replaces the first.

Experiments from the config file (`experiments:`) are listed with `source: config` and cannot be ended here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import Field, field_validator

from oneflow_ai.api.deps import ConsoleDep, GatewayDep
from oneflow_ai.api.identity_routes import RESPONSES
from oneflow_ai.auth.principal import Principal
from oneflow_ai.config.matching import Matching
from oneflow_ai.errors import NotFound
from oneflow_ai.experiments import feedback, service
from oneflow_ai.experiments.config import NAME_PATTERN, as_dict
from oneflow_ai.experiments.results import results
from oneflow_ai.experiments.split import MAX_VARIANTS, Variant
from oneflow_ai.experiments.sync import StoredExperiments
from oneflow_ai.identity.roles import Can, can, is_superuser, scope
from oneflow_ai.identity.schemas import In

router = APIRouter(prefix="/admin/experiments", tags=["Experiments"], responses=RESPONSES)
feedback_router = APIRouter(tags=["Experiments"], responses=RESPONSES)

MAX_COMMENT = 4000
MAX_SCORE = 1e6


class VariantIn(In):
    name: Annotated[str, Matching(f"^{NAME_PATTERN}$")]
    model: str = Field(min_length=1, max_length=128)
    weight: float = Field(1.0, ge=0, allow_inf_nan=False)


class ExperimentIn(In):
    name: Annotated[str, Matching(f"^{NAME_PATTERN}$")]
    model: str = Field(min_length=1, max_length=128)
    variants: list[VariantIn] = Field(min_length=2, max_length=MAX_VARIANTS)
    sticky: bool = False
    tenant_id: str | None = Field(None, max_length=64)


class FeedbackIn(In):
    request_id: str = Field(min_length=1, max_length=64)
    score: float = Field(ge=-MAX_SCORE, le=MAX_SCORE, allow_inf_nan=False)
    comment: str | None = Field(None, max_length=MAX_COMMENT)

    @field_validator("score", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError("score must be a finite number")
        return v


def _store(request: Request) -> StoredExperiments:
    found: StoredExperiments = request.state.experiment_store
    return found


@router.get("", summary="The A/B experiments your tenant sees")
async def list_experiments(p: ConsoleDep, gw: GatewayDep) -> dict[str, Any]:
    return {"object": "list", "data": [as_dict(e) for e in service.listed(p, gw.experiments)]}


@router.post("", status_code=201, summary="Start an A/B experiment on a public model")
async def create_experiment(body: ExperimentIn, p: ConsoleDep, gw: GatewayDep, request: Request) -> dict[str, Any]:
    e = await service.create(
        p,
        _store(request),
        gw.models,
        name=body.name,
        model=body.model,
        variants=[Variant(v.name, v.model, v.weight) for v in body.variants],
        sticky=body.sticky,
        tenant_id=body.tenant_id,
    )
    return as_dict(e)


@router.get("/{experiment_id}", summary="One experiment")
async def get_experiment(experiment_id: str, p: ConsoleDep, gw: GatewayDep) -> dict[str, Any]:
    return as_dict(service.visible(p, gw.experiments, experiment_id))


@router.post("/{experiment_id}/end", summary="End an experiment: its model's calls are no longer split")
async def end_experiment(experiment_id: str, p: ConsoleDep, request: Request) -> dict[str, Any]:
    return as_dict(await service.end(p, _store(request), experiment_id))


@router.get("/{experiment_id}/results", summary="Per variant: calls, cost, latency, errors and feedback")
async def experiment_results(experiment_id: str, p: ConsoleDep, gw: GatewayDep) -> dict[str, Any]:
    e = service.visible(p, gw.experiments, experiment_id)
    return {"name": e.name, "model": e.model, **await results(gw.engine, e, scope(p), gw.pricing.inr_per_usd)}


@feedback_router.post("/feedback", summary="Score a call (by its request id); a second post replaces the first")
async def post_feedback(body: FeedbackIn, p: ConsoleDep, gw: GatewayDep) -> dict[str, Any]:
    who = await feedback.wait_for_owner(gw.engine, body.request_id, lambda: gw.ledger.depth)
    if who is None or not _may_score(p, who):
        raise NotFound("No call with this request id.", param="request_id")
    await feedback.put(gw.engine, body.request_id, who, body.score, body.comment, datetime.now(UTC))
    return {"object": "feedback", "request_id": body.request_id, "score": body.score, "comment": body.comment}


def _may_score(p: Principal, who: feedback.CallOwner) -> bool:
    if is_superuser(p):
        return True
    if p.key_id is not None and p.key_id == who.key_id:
        return True
    return who.tenant_id is not None and p.tenant_id == who.tenant_id and can(p, Can.MANAGE_TENANT)
