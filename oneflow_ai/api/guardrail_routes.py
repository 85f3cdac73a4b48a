"""Guardrails in the admin API: `/api/v1/admin/guardrails/...`.

- `POST /test` `{"text", "policy", "is_input"}`: what the policy does to the text (the test console);
- `POST /scan-file` (multipart `file`, `policy`): the same for a file's text (PDF, DOCX, image by OCR);
- `GET /policies`, `GET|PUT|DELETE /policies/{name}`, `POST /policies`: the policies the caller's tenant sees (the
  presets, the YAML's, its own) and its own ones, made and changed by its owners and admins.

- `GET|PUT /tenants/{tenant_id}` `{"guardrails": [...]}`: the policies every call of a tenant carries.

Policies and tenants' lists set here are stored (`guardrail_policies`, `tenant_guardrails`) before this process
applies them; other workers and replicas reload them within `ONEFLOW_GUARDRAILS_REFRESH_S` (`guardrails.sync`).
A virtual key's `guardrails` are the key's own field (`/admin/api-keys`), stored with the key.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from oneflow_ai.api.deps import ConsoleDep, GatewayDep, TenantAdminDep
from oneflow_ai.api.identity_routes import RESPONSES
from oneflow_ai.auth.principal import Principal
from oneflow_ai.errors import GatewayError, InvalidRequest, NotFound
from oneflow_ai.gateway.runtime import Gateway
from oneflow_ai.guardrails.console import verdict
from oneflow_ai.guardrails.engine import Guardrails
from oneflow_ai.guardrails.policy import Policy
from oneflow_ai.guardrails.presets import PRESETS
from oneflow_ai.guardrails.stages import guardrails_in
from oneflow_ai.guardrails.sync import StoredGuardrails
from oneflow_ai.identity.roles import scope
from oneflow_ai.identity.schemas import In

router = APIRouter(prefix="/admin/guardrails", tags=["Guardrails"], responses=RESPONSES)

MAX_TEXT = 1_000_000


class TestRequest(In):
    text: str = Field(max_length=MAX_TEXT)
    policy: str = Field("default", min_length=1, max_length=64)
    is_input: bool = True


class GuardrailsOff(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "guardrails_off"


def guardrails_of(gw: Gateway) -> Guardrails:
    """The guardrails the gateway applies (those of the configuration when no stage runs them)."""
    found = guardrails_in(gw.stages)
    if found is not None:
        return found
    settings = gw.config.guardrails
    return Guardrails(settings.by_name() if settings is not None else {})


def _stored(request: Request) -> StoredGuardrails:
    found: StoredGuardrails | None = getattr(request.state, "guardrail_store", None)
    if found is None:
        raise GuardrailsOff("Guardrails are off: add a `guardrails:` section to the configuration to use policies.")
    return found


@router.post("/test", summary="What a policy does to a text (the test console)")
async def test_text(body: TestRequest, p: ConsoleDep, gw: GatewayDep) -> dict[str, Any]:
    return verdict(guardrails_of(gw), body.text, body.policy, scope(p), is_input=body.is_input)


@router.post("/scan-file", summary="What a policy does to a file's text (multipart: file, policy)")
async def scan_file(request: Request, p: ConsoleDep, gw: GatewayDep) -> dict[str, Any]:
    from oneflow_ai.api.multipart import parse_form
    from oneflow_ai.guardrails.files import FilesExtraMissing, check_extra, text_of

    form = parse_form(await request.body(), request.headers.get("content-type"))
    upload = form.file("file")
    if upload is None:
        raise InvalidRequest("The form needs a 'file'.", param="file")
    try:
        check_extra()
    except FilesExtraMissing as e:
        raise InvalidRequest(str(e), code="files_extra_missing") from None
    try:
        text = await asyncio.to_thread(text_of, upload.data, upload.content_type, upload.filename)
    except Exception:
        raise InvalidRequest("The file could not be read.", param="file", code="unreadable_file") from None
    policy = form.text("policy") or "default"
    is_input = (form.text("is_input") or "true").lower() != "false"
    return verdict(guardrails_of(gw), text, policy, scope(p), is_input=is_input)


def _public(policy: Policy, source: str) -> dict[str, Any]:
    return {"object": "guardrail_policy", "source": source, **policy.model_dump()}


def _source(guardrails: Guardrails, tenant: str | None, name: str) -> str:
    if name in guardrails.tenant_policies.get(tenant or "", {}):
        return "tenant"
    if name in guardrails.tenant_policies.get("", {}):
        return "gateway"
    return "preset" if PRESETS.get(name) is guardrails.policies.get(name) else "config"


@router.get("/policies", summary="The guardrail policies your tenant can name")
async def list_policies(p: ConsoleDep, gw: GatewayDep) -> dict[str, Any]:
    return {"object": "list", "data": policies_for(gw, scope(p))}


def policies_for(gw: Gateway, tenant: str | None) -> list[dict[str, Any]]:
    """The policies a tenant can name (the presets, the YAML's, the gateway's and its own), as the API lists them
    and the console's test page offers them."""
    guardrails = guardrails_of(gw)
    names = [
        *guardrails.policies,
        *guardrails.tenant_policies.get("", {}),
        *guardrails.tenant_policies.get(tenant or "", {}),
    ]
    data = []
    for name in dict.fromkeys(names):
        policy = guardrails.policy(name, tenant)
        if policy is not None:
            data.append(_public(policy, _source(guardrails, tenant, name)))
    return data


@router.get("/policies/{name}", summary="One guardrail policy")
async def get_policy(name: str, p: ConsoleDep, gw: GatewayDep) -> dict[str, Any]:
    guardrails, tenant = guardrails_of(gw), scope(p)
    policy = guardrails.policy(name, tenant)
    if policy is None:
        raise NotFound(f"No guardrail policy named '{name}'.", code="policy_not_found")
    return _public(policy, _source(guardrails, tenant, name))


@router.post("/policies", status_code=201, summary="Make a policy of your tenant (owners and admins)")
async def create_policy(body: Policy, request: Request, p: TenantAdminDep) -> dict[str, Any]:
    if not await _stored(request).put(scope(p), body, create=True):
        raise InvalidRequest(f"The policy '{body.name}' exists; change it with PUT.", code="policy_exists", status=409)
    return _public(body, "tenant")


@router.put("/policies/{name}", summary="Make or replace a policy of your tenant (owners and admins)")
async def put_policy(name: str, body: Policy, request: Request, p: TenantAdminDep) -> dict[str, Any]:
    if body.name != name:
        raise InvalidRequest("The policy's name must be the one in the path.", param="name")
    await _stored(request).put(scope(p), body)
    return _public(body, "tenant")


@router.delete("/policies/{name}", summary="Delete a policy of your tenant (owners and admins)")
async def delete_policy(name: str, request: Request, p: TenantAdminDep) -> dict[str, Any]:
    if not await _stored(request).remove(scope(p), name):
        raise NotFound(f"Your tenant has no policy named '{name}' (presets and the YAML's are read-only).")
    return {"object": "guardrail_policy", "name": name, "deleted": True}


class TenantGuardrails(In):
    guardrails: list[str] = Field(max_length=32)


@router.get("/tenants/{tenant_id}", summary="The guardrail policies a tenant's calls carry")
async def get_tenant(tenant_id: str, p: ConsoleDep, gw: GatewayDep) -> dict[str, Any]:
    _own_tenant(p, tenant_id)
    names = guardrails_of(gw).tenant_names.get(tenant_id, ())
    return {"object": "tenant_guardrails", "tenant_id": tenant_id, "guardrails": list(names)}


@router.put("/tenants/{tenant_id}", summary="Set the guardrail policies a tenant's calls carry (owners and admins)")
async def put_tenant(tenant_id: str, body: TenantGuardrails, request: Request, p: TenantAdminDep) -> dict[str, Any]:
    _own_tenant(p, tenant_id)
    stored = _stored(request)
    unknown = [n for n in body.guardrails if stored.guardrails.policy(n, tenant_id) is None]
    if unknown:
        raise InvalidRequest(f"No guardrail policy named '{unknown[0]}'.", param="guardrails", code="policy_not_found")
    await stored.set_tenant(tenant_id, tuple(dict.fromkeys(body.guardrails)))
    return {"object": "tenant_guardrails", "tenant_id": tenant_id, "guardrails": body.guardrails}


def _own_tenant(p: Principal, tenant_id: str) -> None:
    own = scope(p)
    if own is not None and own != tenant_id:
        raise NotFound(f"No tenant '{tenant_id}'.")
