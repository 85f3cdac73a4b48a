"""The gateway's runtime: everything built once at start-up that the pipeline reads per request.

`create_app`'s lifespan builds one `Gateway` and closes it; nothing here is module-level state. Its stages are
given when it is built (`gateway.compose.stages`), in their order; nothing adds to them afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.auth.principal import Authenticator
from oneflow_ai.config.presets import DEMO_WIRE
from oneflow_ai.config.schema import Deployment, GatewayConfig, ModelGroup
from oneflow_ai.errors import ModelNotFound
from oneflow_ai.experiments.registry import Experiments
from oneflow_ai.gateway.auto import AutoModel
from oneflow_ai.gateway.balancer_claim import Claims
from oneflow_ai.gateway.drain import Drain
from oneflow_ai.gateway.routing import Routing
from oneflow_ai.gateway.stages import Admission, Observers, Stages
from oneflow_ai.pricing import DeploymentPrices, PriceCatalog, PricingEngine, TokenCounter
from oneflow_ai.providers.auth import Auth
from oneflow_ai.providers.base import ChatProvider, EmbeddingsProvider, Provider
from oneflow_ai.providers.demo import DemoTransport
from oneflow_ai.providers.registry import media_providers, providers
from oneflow_ai.routing import BreakerStore
from oneflow_ai.store.ledger import Ledger
from oneflow_ai.upstream.wire import Transport

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("oneflow")


@dataclass(slots=True)
class Gateway:
    config: GatewayConfig
    auth: Authenticator
    ledger: Ledger
    pricing: PricingEngine
    tokens: TokenCounter
    """Counts usage an upstream did not report, `count_tokens`, the demo models' usage (its tokenizer loaded on
    first use)."""
    transport: Transport
    environ: Mapping[str, str]
    engine: AsyncEngine
    redis: Redis | None
    stages: Stages = field(default_factory=Stages)
    estimates: TokenCounter = field(default_factory=lambda: TokenCounter(None))
    """Estimates a call's tokens before it is made (`gateway.call.estimated_tokens`): rate limits, budget holds,
    routing. The config's `tokens.estimate` chooses (`gateway.compose.estimator`): no tokenizer by default."""
    breakers: BreakerStore | None = None
    """Where circuit breakers live: this process's own board unless a shared (Redis) store is given."""
    price_catalog: str | None = None
    """The price catalog file (re)loaded by the pricing admin API; None: the one shipped with OneFlow."""
    record_behind: bool = True
    """Record a served call just after its reply is sent (False: before, as tracing needs: the attempt's span
    must carry the usage before the request's span ends)."""
    wrap_transport: Callable[[Transport], Transport] | None = None
    """Wraps each transport (tracing's `traceparent`), once, when the gateway is built."""
    httpx_transport: Transport | None = None
    """For the deployments whose `transport` is `httpx` (built only when one is)."""
    drain: Drain = field(default_factory=Drain)
    """Whether the shutdown's grace ran out (`cutting`): the server protocol starts it, the pipeline reads it."""
    claims: Claims | None = None
    """Claims the calls the load balancer may send to two replicas (with a shared Redis only)."""
    prices: DeploymentPrices = field(init=False)
    admission: tuple[Admission, ...] = field(init=False)
    observers: Observers = field(init=False)
    """The routing's own observer (health, breakers, `least_busy`) first, then the stages'."""
    routing: Routing = field(init=False)
    auto: AutoModel = field(init=False)
    experiments: Experiments = field(init=False)
    """The A/B experiments: the config's, and the admin API's (`experiments.sync` swaps those in)."""
    models: dict[str, ModelGroup] = field(init=False)
    providers: dict[str, ChatProvider] = field(init=False)
    """By wire protocol; `embedders`: those that have embeddings too."""
    embedders: dict[str, EmbeddingsProvider] = field(init=False)
    every_provider: dict[str, Provider] = field(init=False)
    """By wire protocol: `providers` and those with no chat (Stability's images, ElevenLabs' speech)."""
    transports: dict[str, Transport] = field(init=False)
    """By deployment id."""
    upstream_auth: dict[str, Auth] = field(init=False)
    """By deployment id: how its requests are authorised upstream (its provider's choice, its key resolved)."""
    models_listing: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.models = self.config.by_name()
        self.prices = DeploymentPrices(self.pricing.catalog, self.deployments())
        self.routing = Routing(
            self.config.routing, self.models, self.pricing, self.estimates, breakers=self.breakers, prices=self.prices
        )
        self.auto = AutoModel(self.models, self.pricing)
        self.experiments = Experiments((e.experiment() for e in self.config.experiments), self.models)
        self.admission = self.stages.admissions
        self.observers = Observers([self.routing, *self.stages.observers])
        self.providers = providers()
        self.embedders = {w: p for w, p in self.providers.items() if isinstance(p, EmbeddingsProvider)}
        self.every_provider = {**self.providers, **media_providers()}
        self.transports = self._transports()
        self.upstream_auth = {d.id: self.every_provider[d.wire].auth(d, self.environ) for d in self.deployments()}
        cards = [model_card(n, g) for n, g in self.models.items()]
        self.models_listing = orjson.dumps({"object": "list", "data": cards})
        for model in sorted({d.model for d in self.deployments() if self.prices.get(d) is None}):
            log.warning("no price for upstream model %r: its usage is recorded at zero cost", model)

    def _transports(self) -> dict[str, Transport]:
        """By deployment id: the demo's own, the httpx transport where a deployment chose it, ours otherwise (each
        wrapped once, when tracing wraps them)."""
        kinds: dict[str, Transport] = {"native": self.transport, DEMO_WIRE: DemoTransport(self.tokens)}
        if self.httpx_transport is not None:
            kinds["httpx"] = self.httpx_transport
        if self.wrap_transport is not None:
            kinds = {kind: self.wrap_transport(t) for kind, t in kinds.items()}
        return {d.id: kinds[DEMO_WIRE if d.wire == DEMO_WIRE else d.transport] for d in self.deployments()}

    def deployments(self) -> list[Deployment]:
        return [d for g in self.config.models for d in g.deployments]

    def reload_prices(self, catalog: PriceCatalog) -> None:
        """Price from `catalog` from now on: the new prices are built first, then swapped in together
        (no await in between, so no request sees the new catalog with the old deployment prices)."""
        prices = DeploymentPrices(catalog, self.deployments())
        self.pricing.catalog = catalog
        self.prices = prices
        self.routing.prices = prices

    def swap_secrets(self, values: dict[str, str]) -> None:
        """Use `values` (by deployment id, from `config.secrets.rotation.read_again`) from now on: each deployment's
        upstream auth is built again (Bedrock's credential references are read again there) and all are swapped in
        together; if one cannot be built, nothing changes."""
        deployments = self.deployments()
        before = {d.id: d.resolve_key(self.environ) for d in deployments if d.id in values}
        for d in deployments:
            if d.id in values:
                d.keep_secret(values[d.id])
        try:
            auth = {d.id: self.every_provider[d.wire].auth(d, self.environ) for d in deployments}
        except Exception:
            for d in deployments:
                if (old := before.get(d.id)) is not None:
                    d.keep_secret(old)
            raise
        self.upstream_auth = auth

    def group(self, name: str) -> ModelGroup:
        group = self.models.get(name)
        if group is None:
            raise ModelNotFound(f"The model '{name}' does not exist or you do not have access to it.", param="model")
        return group


def model_card(name: str, group: ModelGroup) -> dict[str, object]:
    return {"id": name, "object": "model", "created": 0, "owned_by": group.deployments[0].provider}
