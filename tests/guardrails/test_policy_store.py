"""`guardrails.store` on SQLite and PostgreSQL: writes read back whole; an unreadable row is skipped, not fatal."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import insert

from oneflow_ai.guardrails import store
from oneflow_ai.guardrails.policy import Policy
from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.tables import guardrail_policies, tenant_guardrails

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_writes_read_back_and_unreadable_rows_are_skipped(database_url: str) -> None:
    tenant, other = (f"t-{uuid.uuid4().hex[:10]}" for _ in range(2))
    mask = Policy(name="p", entities={"EMAIL_ADDRESS": "mask"})
    redact = Policy(name="p", entities={"EMAIL_ADDRESS": "redact"}, applies_to="input", restore=True)

    async def run() -> None:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
            assert await store.put(engine, tenant, mask, NOW, create=True)
            assert not await store.put(engine, tenant, redact, NOW, create=True)  # exists: left as it is
            assert (await store.load_all(engine)).policies[tenant] == {"p": mask}
            assert await store.put(engine, tenant, redact, NOW)  # replaced
            assert await store.put(engine, other, mask, NOW)  # the same name in another tenant
            await store.set_tenant(engine, tenant, ("p", "gdpr"), NOW)
            await store.set_tenant(engine, tenant, ("p",), NOW)
            async with engine.begin() as conn:
                bad = {"created_at": NOW, "updated_at": NOW}
                await conn.execute(insert(guardrail_policies).values(tenant_id=other, name="bad", spec="{", **bad))
                await conn.execute(
                    insert(guardrail_policies).values(tenant_id=other, name="odd", spec='{"name":"odd","x":1}', **bad)
                )
                await conn.execute(insert(tenant_guardrails).values(tenant_id=other, names="nope", updated_at=NOW))
            stored = await store.load_all(engine)
            assert (stored.policies[tenant], stored.policies[other]) == ({"p": redact}, {"p": mask})
            assert (stored.names[tenant], other in stored.names) == (("p",), False)
            assert await store.remove(engine, tenant, "p")
            assert not await store.remove(engine, tenant, "p")
            assert tenant not in (await store.load_all(engine)).policies
        finally:
            await engine.dispose()

    asyncio.run(run())
