"""The audit log: who did what to which object, newest first, pages by the id cursor (`before`), filtered by
action. The same reader as `/api/v1/admin/audit` (`identity.audit.entries`): owners and admins, confined to
their tenant."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import Response

from oneflow_ai.api.deps import IdentityDep
from oneflow_ai.console.deps import SignedIn
from oneflow_ai.console.page import Page
from oneflow_ai.console.render import render
from oneflow_ai.errors import InvalidRequest
from oneflow_ai.identity import audit
from oneflow_ai.identity.roles import Can, can, require, scope

router = APIRouter()
PAGE = Page(router=router, title="Audit log", path="/audit", visible=lambda p: can(p, Can.READ_AUDIT))
PER_PAGE = 100
ACTION = re.compile(r"^[\w.]{1,64}$")


@router.get("/audit")
async def audit_page(
    request: Request, p: SignedIn, identity: IdentityDep, before: int | None = None, action: str | None = None
) -> Response:
    require(p, Can.READ_AUDIT)
    action = (action or "").strip() or None
    if action is not None and not ACTION.fullmatch(action):
        raise InvalidRequest("An action looks like 'api_key.create'.", param="action")
    if before is not None and not 1 <= before <= 2**31 - 1:
        raise InvalidRequest("'before' must be an entry id.", param="before")
    entries, more = await audit.entries(identity.engine, scope(p), limit=PER_PAGE, before=before, action=action)
    context = {
        "entries": entries,
        "action": action or "",
        "next_before": entries[-1].id if more and entries else None,
    }
    return render(request, "audit.html", context)
