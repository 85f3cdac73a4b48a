"""Where the guardrails made through the admin API are kept: tenants' policies (`guardrail_policies`, the
superuser's under tenant id '') and the lists of policies tenants' calls carry (`tenant_guardrails`).

`load_all` reads them whole (what a gateway holds in memory, `Guardrails.replace`); `put`, `remove` and
`set_tenant` write one. A row that no longer reads as a policy (written by another version) is skipped and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType

import orjson
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.guardrails.policy import Policy
from oneflow_ai.store.dialects import upsert_dialect
from oneflow_ai.store.tables import guardrail_policies, tenant_guardrails

log = logging.getLogger("oneflow.guardrails")


@dataclass(frozen=True, slots=True)
class Stored:
    policies: dict[str, dict[str, Policy]] = field(default_factory=dict)
    """Tenant id ('' for the superuser's) -> name -> policy."""
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Tenant id -> the policies its calls carry."""


async def load_all(engine: AsyncEngine) -> Stored:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(guardrail_policies.c.tenant_id, guardrail_policies.c.spec))).all()
        lists = (await conn.execute(select(tenant_guardrails.c.tenant_id, tenant_guardrails.c.names))).all()
    stored = Stored()
    for tenant, spec in rows:
        try:
            policy = Policy.model_validate(orjson.loads(spec))
        except (orjson.JSONDecodeError, ValidationError):
            log.error("a stored guardrail policy of tenant %r cannot be read: it is skipped", tenant)
            continue
        stored.policies.setdefault(tenant, {})[policy.name] = policy
    for tenant, names in lists:
        try:
            found = orjson.loads(names)
        except orjson.JSONDecodeError:
            found = None
        if isinstance(found, list):
            stored.names[tenant] = tuple(str(n) for n in found)
        else:
            log.error("the stored guardrails list of tenant %r cannot be read: it is skipped", tenant)
    return stored


async def put(engine: AsyncEngine, tenant: str | None, policy: Policy, now: datetime, *, create: bool = False) -> bool:
    """Make or replace the tenant's policy (None: the superuser's). With `create`, an existing one is left as it
    is and False is returned."""
    spec = orjson.dumps(policy.model_dump(mode="json")).decode()
    row = {"tenant_id": tenant or "", "name": policy.name, "spec": spec, "created_at": now, "updated_at": now}
    statement = _dialect(engine).insert(guardrail_policies).values(**row)
    index = ["tenant_id", "name"]
    if create:
        statement = statement.on_conflict_do_nothing(index_elements=index)
    else:
        statement = statement.on_conflict_do_update(index_elements=index, set_={"spec": spec, "updated_at": now})
    async with engine.begin() as conn:
        return bool((await conn.execute(statement)).rowcount)


async def remove(engine: AsyncEngine, tenant: str | None, name: str) -> bool:
    key = (guardrail_policies.c.tenant_id == (tenant or "")) & (guardrail_policies.c.name == name)
    async with engine.begin() as conn:
        return bool((await conn.execute(delete(guardrail_policies).where(key))).rowcount)


async def set_tenant(engine: AsyncEngine, tenant_id: str, names: tuple[str, ...], now: datetime) -> None:
    value = orjson.dumps(list(names)).decode()
    statement = (
        _dialect(engine)
        .insert(tenant_guardrails)
        .values(tenant_id=tenant_id, names=value, updated_at=now)
        .on_conflict_do_update(index_elements=["tenant_id"], set_={"names": value, "updated_at": now})
    )
    async with engine.begin() as conn:
        await conn.execute(statement)


def _dialect(engine: AsyncEngine) -> ModuleType:
    return upsert_dialect(engine.dialect.name)
