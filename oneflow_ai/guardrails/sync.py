"""A gateway's guardrails kept in the database (`guardrails.store`), so that what the admin API makes survives a
restart and reaches every worker and replica.

A write goes to the database first, then into this process's `Guardrails`, so the process that took it applies it
at once. At start-up everything stored is loaded; then a background task reloads it every `refresh_s` and, when it
differs, replaces what the process holds: another worker or replica applies a change within `refresh_s` (plus one
query). Nothing is read per request. Writes and reloads take one lock, so a reload begun before a write never
puts back what the write replaced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.guardrails import store
from oneflow_ai.guardrails.engine import Guardrails
from oneflow_ai.guardrails.policy import Policy
from oneflow_ai.store.periodic import Periodic

log = logging.getLogger("oneflow.guardrails")


class StoredGuardrails:
    def __init__(
        self,
        guardrails: Guardrails,
        engine: AsyncEngine,
        *,
        refresh_s: float = 5.0,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.guardrails = guardrails
        self._engine = engine
        self._wall = wall
        self._lock = asyncio.Lock()
        self._refresh = Periodic(self.reload, refresh_s, what="stored guardrails", log=log)

    async def start(self) -> None:
        """Load what is stored (a database error here stops the start), then keep it fresh."""
        await self.reload()
        self._refresh.start()

    async def close(self) -> None:
        await self._refresh.close()

    async def reload(self) -> bool:
        """Hold what the database holds; True when it differed."""
        async with self._lock:
            stored = await store.load_all(self._engine)
            g = self.guardrails
            if stored.policies == g.tenant_policies and stored.names == g.tenant_names:
                return False
            g.replace(stored.policies, stored.names)
            return True

    async def put(self, tenant: str | None, policy: Policy, *, create: bool = False) -> bool:
        """Make or replace a policy of the tenant (None: the superuser's); with `create`, False when it exists."""
        async with self._lock:
            if not await store.put(self._engine, tenant, policy, self._wall(), create=create):
                return False
            self.guardrails.put(tenant, policy)
            return True

    async def remove(self, tenant: str | None, name: str) -> bool:
        async with self._lock:
            found = await store.remove(self._engine, tenant, name)
            return self.guardrails.remove(tenant, name) or found

    async def set_tenant(self, tenant_id: str, names: tuple[str, ...]) -> None:
        async with self._lock:
            await store.set_tenant(self._engine, tenant_id, names, self._wall())
            self.guardrails.tenant_names[tenant_id] = names
