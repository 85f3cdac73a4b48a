"""Price and record: turn what happened to a request into one ledger record."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from oneflow_ai.config.schema import Deployment
from oneflow_ai.gateway.call import Call
from oneflow_ai.pricing import DeploymentPrices, PricingEngine
from oneflow_ai.pricing.media import Metered, media_usd
from oneflow_ai.providers.base import Usage
from oneflow_ai.store.journal import INTENT
from oneflow_ai.store.ledger import UsageRecord

if TYPE_CHECKING:
    from oneflow_ai.gateway.runtime import Gateway

log = logging.getLogger("oneflow.accounting")

ZERO = Decimal(0)


@dataclass(slots=True)
class Outcome:
    status: str
    http_status: int
    deployment: Deployment | None = None
    usage: Usage | None = None
    usage_source: str = "none"
    served_model: str | None = None
    ttft_s: float | None = None
    attempts: int = 1
    provider: str | None = None
    """Who served a call no deployment served (a stage that answered it, `cache` say)."""
    cache_kind: str | None = None
    """`exact` or `semantic`: a cache hit, recorded with `saved_usd`, the cost of the call it stands for."""
    saved_usd: Decimal = ZERO
    metered: Metered | None = None
    """What a media call used (images, characters, seconds): priced by `pricing.media`, recorded as its unit."""


def finish(gw: Gateway, call: Call, outcome: Outcome) -> UsageRecord:
    """The pipeline's last stage: price the usage, write the ledger record, tell the observers."""
    rec = record(call, outcome, gw.pricing, gw.prices)
    gw.ledger.record(rec)
    gw.observers.recorded(call, rec)
    return rec


def finish_behind(gw: Gateway, call: Call, outcome: Outcome) -> None:
    """`finish` for a served call whose reply is about to be sent: the record is made and journaled now, before the
    reply's bytes leave (a process killed once the client has its answer keeps the record, `store.journal`); the
    observers hear of it on the next turn of the event loop, costing the client no latency."""
    rec = record(call, outcome, gw.pricing, gw.prices)
    gw.ledger.record(rec)
    asyncio.get_running_loop().call_soon(gw.observers.recorded, call, rec)


def intend(gw: Gateway, call: Call, dep: Deployment, attempt: int) -> None:
    """Before an upstream attempt: journal what the call's record is if the process dies before it has its own
    (`interrupted`: what is known of the call, no tokens, no cost; see `store.journal` for why nothing is charged).
    A tuple in the order of `journal.INTENT_FIELDS`: a few values, not a priced record (this is on every call)."""
    if gw.ledger.journaled:
        p = call.principal
        gw.ledger.intend(
            (
                INTENT,
                call.request_id,
                call.created_at,
                call.endpoint,
                call.model,
                p.key_id,
                p.user_id,
                call.end_user,
                p.department_id,
                p.tenant_id,
                dep.model,
                dep.provider,
                dep.id,
                attempt,
                call.stream,
                call.experiment,
                call.variant,
            )
        )


def record(call: Call, outcome: Outcome, pricing: PricingEngine, prices: DeploymentPrices) -> UsageRecord:
    """The ledger record, priced at the serving deployment's price (its config override over the catalog)."""
    usage = outcome.usage or Usage()
    dep = outcome.deployment
    usd, credits = ZERO, ZERO
    price = prices.get(dep) if dep is not None else None
    metered = outcome.metered
    if price is not None and metered is not None:
        amount = media_usd(price, metered, usage.prompt_tokens, usage.completion_tokens)
        if amount is not None:
            usd, credits = amount, pricing.credits(amount)
    elif price is not None and (usage.prompt_tokens or usage.completion_tokens):
        cost = pricing.cost_of(
            price, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.cache_write_tokens
        )
        usd, credits = cost.usd, cost.credits
    # no price: recorded at zero cost; `Gateway` warned once at start-up that this deployment has none
    p = call.principal
    return UsageRecord(
        request_id=call.request_id,
        created_at=call.created_at,
        endpoint=call.endpoint,
        requested_model=call.model,
        status=outcome.status,
        http_status=outcome.http_status,
        cost_usd=usd,
        credits=credits,
        usage_source=outcome.usage_source,
        key_id=p.key_id,
        user_id=p.user_id,
        end_user=call.end_user,
        department_id=p.department_id,
        tenant_id=p.tenant_id,
        served_model=outcome.served_model or (dep.model if dep else None),
        provider=dep.provider if dep else outcome.provider,
        deployment_id=dep.id if dep else None,
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        latency_ms=(time.perf_counter() - call.started) * 1000,
        ttft_ms=outcome.ttft_s * 1000 if outcome.ttft_s is not None else None,
        attempts=outcome.attempts,
        streamed=call.stream,
        cache_hit=outcome.cache_kind is not None,
        cache_kind=outcome.cache_kind,
        saved_usd=outcome.saved_usd,
        guardrail=call.guardrail,
        guardrail_action=call.guardrail_action,
        unit=metered.unit if metered is not None else "tokens",
        quantity=metered.quantity if metered is not None else ZERO,
        experiment=call.experiment,
        variant=call.variant,
    )
