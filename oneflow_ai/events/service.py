"""`Events`: what the app's lifespan runs for events and webhooks (the emitter for in-memory facts, the
endpoints, the dispatcher), built from the config file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.events.config import DeliverySettings, WebhookConfig
from oneflow_ai.events.dispatcher import Dispatcher
from oneflow_ai.events.emitter import Emitter
from oneflow_ai.events.endpoints import Endpoints, from_config
from oneflow_ai.events.event import Event

if TYPE_CHECKING:
    from redis.asyncio import Redis


class Events:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis | None,
        webhooks: Sequence[WebhookConfig],
        delivery: DeliverySettings,
        environ: Mapping[str, str],
    ) -> None:
        self.emitter = Emitter(engine, redis, dedup_s=delivery.breaker_dedup_s)
        self.endpoints = Endpoints(engine, from_config(webhooks, environ))
        self.dispatcher = Dispatcher(engine, self.endpoints, delivery)

    def emit(self, event: Event) -> None:
        """The seam for in-memory facts (a breaker, a guardrail block): never blocks, written behind."""
        self.emitter.emit(event)

    def start(self) -> None:
        self.emitter.start()
        self.dispatcher.start()

    async def close(self) -> None:
        await self.dispatcher.close()
        await self.emitter.close()
