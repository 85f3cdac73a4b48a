"""`create_app(settings)`: the ASGI application. Its lifespan owns every client, pool and store."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from oneflow_ai import __version__
from oneflow_ai.api import (
    admin_routes,
    analytics_routes,
    billing_routes,
    budget_routes,
    cache_routes,
    experiment_routes,
    guardrail_routes,
    identity_routes,
    insights_routes,
    observability_routes,
    openai_routes,
    operations,
    ops_routes,
    pricing_routes,
    request_routes,
    routing_routes,
    secret_routes,
)
from oneflow_ai.api.edge import Edge
from oneflow_ai.api.fast_lane import FastLane, unexpected_error
from oneflow_ai.api.idempotency import Idempotency
from oneflow_ai.api.schemas import with_error_schemas
from oneflow_ai.api.webhook_routes import router as webhook_router
from oneflow_ai.api.wire import ErrorResponse
from oneflow_ai.auth.master import ensure_master_key
from oneflow_ai.config import load_config
from oneflow_ai.console.mount import Console
from oneflow_ai.errors import GatewayError, InvalidRequest, MethodNotAllowed, NotFound
from oneflow_ai.events.service import Events
from oneflow_ai.experiments.sync import StoredExperiments
from oneflow_ai.gateway.compose import build_gateway
from oneflow_ai.gateway.stages import Stages
from oneflow_ai.guardrails.stages import guardrails_in
from oneflow_ai.guardrails.sync import StoredGuardrails
from oneflow_ai.identity.config import IdentitySettings
from oneflow_ai.identity.service import Identity
from oneflow_ai.logs import configure_logging, flush_logs
from oneflow_ai.observability.runtime import Observability
from oneflow_ai.ops import heap
from oneflow_ai.ops.idle_trim import IdleTrim
from oneflow_ai.pricing import PriceCatalog, PricingEngine
from oneflow_ai.settings import Settings
from oneflow_ai.sso.service import build_sso
from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.journal import Journal
from oneflow_ai.store.ledger import Ledger
from oneflow_ai.store.retention import Retention
from oneflow_ai.upstream.http import HTTPTransport
from oneflow_ai.upstream.origin import origin_settings, proxies_of

log = logging.getLogger("oneflow")

EXPOSED_HEADERS = [
    "x-request-id",
    "x-oneflow-request-id",
    "x-oneflow-model",
    "x-oneflow-provider",
    "x-oneflow-attempts",
    "x-oneflow-cache",
    "x-oneflow-cache-similarity",
    "retry-after",
    "idempotent-replayed",
]


def create_app(
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    freeze_heap: bool = False,
    stages: Stages | None = None,
) -> ASGIApp:
    """Build the gateway. Configuration errors raise `ConfigError` here, before anything starts.

    `stages`: an embedder's (or a test's) own stages, each run at its kind's place (`gateway.compose`).

    `freeze_heap` (what `oneflow serve` does, one gateway per process): once started, move everything built so
    far out of the garbage collector's sight (`gc.freeze`). Those objects live as long as the process, and
    without this every full collection walks them all again: about a sixth of the CPU per request
    (`bench/hot_path.py`, 318 vs 266 us in full mode)."""
    environ = dict(os.environ if environ is None else environ)
    settings = settings or Settings.from_env(environ)
    config = load_config(settings.config_path, environ)
    identity_settings = IdentitySettings.from_env(environ)
    catalog = PriceCatalog.load(settings.price_catalog)  # a malformed file raises `CatalogError` here

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        master_key, generated = ensure_master_key(settings.master_key or config.resolved_master_key, settings.data_dir)
        if generated:
            print(f"OneFlow generated a master key (shown once, kept in {settings.data_dir}): {master_key}", flush=True)
        engine = create_engine(settings.db_url)
        await migrate(engine)
        identity = Identity(
            identity_settings,
            engine,
            master_key=master_key,
            data_dir=settings.data_dir,
            redis_url=settings.redis_url,
            shared_view_s=settings.shared_view_s,
        )
        await identity.start()
        sso = build_sso(config.sso, environ, engine)  # None without `sso:` in the config
        if sso is not None:
            await sso.check_tenants()
        journal = Journal(settings.journal_dir, sync=settings.ledger_journal_sync) if settings.ledger_journal else None
        ledger = Ledger(
            engine, batch_size=settings.ledger_batch_size, interval_s=settings.ledger_interval_s, journal=journal
        )
        ledger.start()
        transport = HTTPTransport(
            max_connections=settings.upstream_max_connections,
            origins=origin_settings(d for g in config.models for d in g.deployments),
            proxies=proxies_of(environ),
        )
        httpx_transport = None
        if any(d.transport == "httpx" for g in config.models for d in g.deployments):
            from oneflow_ai.upstream.httpx_transport import HttpxTransport  # the optional `httpx` extra

            httpx_transport = HttpxTransport()
        redis, breakers = None, None
        if settings.redis_url:  # redis-py is imported with a Redis only (`store.redis_errors`)
            from oneflow_ai.gateway.shared_breakers import SharedBreakers
            from oneflow_ai.store.redis_pool import shared_redis

            redis = shared_redis(
                settings.redis_url,
                max_connections=settings.redis_max_connections,
                wait_s=settings.redis_pool_timeout_s,
            )
            breakers = SharedBreakers(redis)
        pricing = PricingEngine(
            catalog,
            credits_per_usd=Decimal(settings.credits_per_usd),
            inr_per_usd=Decimal(settings.inr_per_usd),
        )
        observability = Observability(settings, config, redis)
        events = Events(engine, redis, config.webhooks, config.webhook_delivery, environ)
        gateway, budgets = build_gateway(
            settings,
            config,
            environ,
            engine=engine,
            ledger=ledger,
            transport=transport,
            httpx_transport=httpx_transport,
            redis=redis,
            pricing=pricing,
            breakers=breakers,
            identity=identity,
            observability=observability,
            extra=stages,
            events=events,
        )
        guardrails = guardrails_in(gateway.stages)
        stored_guardrails = None
        if guardrails is not None:  # the admin API's policies and tenants' lists (README: "Guardrails")
            stored_guardrails = StoredGuardrails(guardrails, engine, refresh_s=settings.guardrails_refresh_s)
            await stored_guardrails.start()
        stored_experiments = StoredExperiments(gateway.experiments, engine, refresh_s=settings.guardrails_refresh_s)
        await stored_experiments.start()
        if breakers is not None:
            await breakers.start()
        await budgets.start()
        events.start()
        retention = Retention(engine, settings.ledger_retention_days)
        retention.start()
        # After a burst, once the edge has seen no call for `idle_trim_s`: garbage collected, glibc's heap trimmed.
        idle_trim = IdleTrim(edge, settings.idle_trim_s, heap.give_back) if settings.idle_trim_s > 0 else None
        if idle_trim is not None:
            idle_trim.start()
        state = {
            "gateway": gateway,
            "identity": identity,
            "sso": sso,
            "budgets": budgets,
            "events": events,
            "guardrail_store": stored_guardrails,
            "experiment_store": stored_experiments,
            **observability.start(gateway),
        }
        if gateway.estimates.encoding is not None:  # the config chose the tokenizer for every call's estimate
            gateway.estimates.count_text("warm")  # load it now, not on the first request
        if freeze_heap:
            gc.collect()
            gc.freeze()
        try:
            yield state
        finally:
            if idle_trim is not None:
                await idle_trim.close()
            await observability.close()
            await retention.close()
            await budgets.close()
            await events.close()
            if stored_guardrails is not None:
                await stored_guardrails.close()
            await stored_experiments.close()
            if breakers is not None:
                await breakers.close()
            await ledger.close()
            await identity.close()
            await transport.close()
            if httpx_transport is not None:
                await httpx_transport.close()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()
            flush_logs()  # uvicorn ends by re-raising SIGTERM, so no exit handler would write what is buffered

    app = FastAPI(title="OneFlow AI Gateway", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    _document_errors(app)
    operations.document(app, operations.OPERATIONS)
    for prefix in operations.PREFIXES:
        app.include_router(openai_routes.router, prefix=prefix)
    app.include_router(billing_routes.router, prefix="/api/v1")
    app.include_router(budget_routes.router, prefix="/api/v1")
    app.include_router(request_routes.router, prefix="/api/v1")
    app.include_router(cache_routes.router, prefix="/api/v1")
    app.include_router(pricing_routes.router, prefix="/api/v1")
    app.include_router(secret_routes.router, prefix="/api/v1")
    app.include_router(routing_routes.router, prefix="/api/v1")
    app.include_router(observability_routes.router, prefix="/api/v1")
    app.include_router(identity_routes.router, prefix="/api/v1")
    app.include_router(admin_routes.router, prefix="/api/v1")
    app.include_router(guardrail_routes.router, prefix="/api/v1")
    app.include_router(webhook_router, prefix="/api/v1")
    app.include_router(insights_routes.router, prefix="/api/v1")
    app.include_router(analytics_routes.router, prefix="/api/v1")
    app.include_router(experiment_routes.router, prefix="/api/v1")
    app.include_router(experiment_routes.feedback_router, prefix="/api/v1")
    app.include_router(ops_routes.router)
    app.include_router(observability_routes.metrics_router)
    app.include_router(ops_routes.docs_router)
    app.mount("/_docs", ops_routes.docs_assets, name="docs-assets")
    app.mount("/ui", Console(), name="console")
    _install_error_handlers(app)
    configure_logging(settings.log_level, settings.log_format)
    edge = _edge(app, settings)  # the lifespan's idle trim reads its counts of calls
    return edge


def _edge(app: FastAPI, settings: Settings) -> Edge:
    """The HTTP edge around the routes, outermost first: the request id, body limits, security headers and HTTP
    metrics; the request's trace (when tracing is on); CORS (when origins are configured); idempotency; the
    fast lane for the per-request routes; FastAPI for everything else."""
    table = operations.OPERATIONS
    inner: ASGIApp = Idempotency(FastLane(app, operations.fast_routes(table)), operations.idempotent_paths(table))
    if settings.cors_origins:
        inner = CORSMiddleware(
            inner,
            allow_origins=list(settings.cors_origins),
            allow_headers=["*"],
            allow_methods=["GET", "POST", "DELETE"],
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    if settings.otel_enabled:
        from oneflow_ai.observability.tracing import TracingMiddleware  # OpenTelemetry is an optional extra

        inner = TracingMiddleware(inner)
    return Edge(inner, max_body_bytes=settings.max_body_bytes)


def _document_errors(app: FastAPI) -> None:
    """`/openapi.json` lists the error bodies that the routes' documented errors refer to (`schemas.error_response`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_error_schemas(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_error_handlers(app: FastAPI) -> None:
    async def gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return ErrorResponse(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            err: GatewayError = NotFound(f"Unknown request URL: {request.method} {request.url.path}.")
        elif exc.status_code == 405:
            err = MethodNotAllowed(f"Method {request.method} is not allowed for {request.url.path}.")
        elif exc.status_code == 400:  # FastAPI could not read the body (e.g. JSON nested past Python's stack)
            err = InvalidRequest(f"We could not parse the JSON body: {exc.detail}.", code="invalid_json")
        else:
            err = GatewayError(str(exc.detail), status=exc.status_code, code=None)
        return ErrorResponse(err)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return ErrorResponse(InvalidRequest(f"Invalid request: {first.get('msg', 'bad input')}", param=param))

    async def unexpected(request: Request, exc: Exception) -> Response:
        return ErrorResponse(unexpected_error(getattr(request.state, "request_id", None)))

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


def app_from_env() -> ASGIApp:
    """The factory `oneflow serve` gives uvicorn (each worker builds its own app from the environment)."""
    return create_app(freeze_heap=True)
