"""The guardrail test console: what a policy does to a text (findings, the action taken, the text as it would go
on), without calling any model. The same service as `POST /api/v1/admin/guardrails/test`
(`guardrails.console.verdict`) with the policies the caller's tenant can name (`api.guardrail_routes`): anyone
signed in may test, as on the API; nothing is stored, and the text is not logged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from oneflow_ai.api.deps import GatewayDep
from oneflow_ai.api.guardrail_routes import MAX_TEXT, guardrails_of, policies_for
from oneflow_ai.auth.principal import Principal
from oneflow_ai.console.deps import Form, SignedIn
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.guardrails.console import verdict
from oneflow_ai.identity.roles import scope

router = APIRouter()
PAGE = Page(router=router, title="Guardrails", path="/guardrails")
SAMPLE = "My card is 4111 1111 1111 1111 and my email is jane@example.com."


async def _page(request: Request, p: Principal, gw: Any, form: dict[str, Any], result: Any = None) -> Response:
    policies = policies_for(gw, scope(p))
    context = {"policies": policies, "form": form, "result": result, "sample": SAMPLE}
    return render(request, "guardrails.html", context)


@router.get("/guardrails")
async def guardrails_page(request: Request, p: SignedIn, gw: GatewayDep) -> Response:
    return await _page(request, p, gw, {"text": "", "policy": "default", "direction": "input"})


@router.post("/guardrails/test")
async def test_text(request: Request, p: SignedIn, form: Form, gw: GatewayDep) -> Response:
    """A form that changes nothing: the verdict is rendered in the answer (no redirect, nothing to keep)."""
    text, policy = form.get("text"), form.get("policy").strip() or "default"
    direction = form.get("direction") or "input"
    if len(text) > MAX_TEXT:
        raise InvalidRequest(f"The text is longer than {MAX_TEXT} characters.", param="text")
    if len(policy) > 64 or direction not in ("input", "output"):
        raise InvalidRequest("Choose a policy and a direction from the lists.", param="policy")
    result = verdict(guardrails_of(gw), text, policy, scope(p), is_input=direction == "input")
    return await _page(request, p, gw, {"text": text, "policy": policy, "direction": direction}, result)
