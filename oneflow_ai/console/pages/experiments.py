"""A/B experiments in the console: the list (and, for owners and admins, a form to start one), and each
experiment's comparison of its variants by calls, cost, latency, error rate and feedback score, with charts
(the vendored Chart.js, `static/experiments.js`). The same functions as `/api/v1/admin/experiments`
(`experiments.service`, `experiments.results`): the same role rules and tenant confinement."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from oneflow_ai.api.deps import GatewayDep
from oneflow_ai.console.deps import Form, SignedIn
from oneflow_ai.console.forms import FormData
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.experiments import service
from oneflow_ai.experiments.results import results
from oneflow_ai.experiments.split import Variant
from oneflow_ai.experiments.sync import StoredExperiments
from oneflow_ai.identity.roles import Can, can, scope

router = APIRouter()
PAGE = Page(router=router, title="Experiments", path="/experiments", visible=lambda p: can(p, Can.READ_TENANT))
FORM_VARIANTS = 4
"""Variant rows on the form (the API takes up to ten)."""


@router.get("/experiments")
async def experiments_page(request: Request, p: SignedIn, gw: GatewayDep) -> Response:
    listed = service.listed(p, gw.experiments)
    models = sorted(gw.models)
    return render(request, "experiments.html", {"experiments": listed, "models": models, "rows": range(FORM_VARIANTS)})


@router.post("/experiments")
async def create(request: Request, p: SignedIn, form: Form, gw: GatewayDep) -> Response:
    store: StoredExperiments = request.state.experiment_store
    e = await service.create(
        p,
        store,
        gw.models,
        name=form.get("name").strip(),
        model=form.get("model"),
        variants=_variants(form),
        sticky=form.get("sticky") == "on",
        tenant_id=None,
    )
    return RedirectResponse(f"/ui/experiments/{e.id}", status_code=303)


@router.get("/experiments/{experiment_id}")
async def experiment_page(request: Request, experiment_id: str, p: SignedIn, gw: GatewayDep) -> Response:
    e = service.visible(p, gw.experiments, experiment_id)
    found = await results(gw.engine, e, scope(p), gw.pricing.inr_per_usd)
    rows = found["variants"]
    chart: dict[str, Any] = {
        "labels": [r["variant"] for r in rows],
        "credits": [float(r["credits"]) for r in rows],
        "mean": [r["latency_ms_mean"] for r in rows],
        "p95": [r["latency_ms_p95"] for r in rows],
        "error_rate": [r["error_rate"] for r in rows],
        "score": [r["score_mean"] for r in rows],
    }
    return render(request, "experiment.html", {"e": e, "rows": rows, "chart": chart})


@router.post("/experiments/{experiment_id}/end")
async def end(request: Request, experiment_id: str, p: SignedIn, form: Form) -> Response:
    store: StoredExperiments = request.state.experiment_store
    await service.end(p, store, experiment_id)
    return RedirectResponse(f"/ui/experiments/{experiment_id}", status_code=303)


def _variants(form: FormData) -> list[Variant]:
    out = []
    for i in range(FORM_VARIANTS):
        name, model = form.get(f"variant_{i}_name").strip(), form.get(f"variant_{i}_model")
        if not name and not model:
            continue
        try:
            weight = float(form.get(f"variant_{i}_weight") or "1")
        except ValueError:
            raise InvalidRequest(f"Variant {i + 1}: the weight must be a number.", param="weight") from None
        out.append(Variant(name, model, weight))
    return out
