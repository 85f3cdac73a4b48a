"""Cost insights: what the same traffic would have cost on each cheaper model of equal or higher quality.

Pure: traffic (token sums and what the ledger charged, per key and model) and the candidate models in, exact
`Decimal` answers out; no I/O, no clock. The route (`api.insights_routes`) reads the traffic from the usage
aggregates and builds the candidates from the configuration or the catalog.

- A row of traffic is priced as the catalog model that served it (`served_model`, by name or alias); when the
  catalog does not know that name (an upstream's dated model name, say), as the first deployment of the public
  model the client asked for. Traffic whose model has no price, or is not priced by the token (images, audio),
  is listed apart (`unpriced`) and compared with nothing.
- An alternative is a candidate of the same mode (chat with chat, embedding with embedding), other than the model
  itself, whose quality score is at least the model's and whose price for exactly the same input, output and
  cached tokens (`PricingEngine.cost_of`, exact) is below what the ledger charged. Cached tokens are billed at the
  alternative's cached rate, or as input where it has none.
- `saved` is the ledger's cost minus the alternative's, over the range; `saved_per_30_days` scales it to 30 days
  (`× 30 / days`, rounded half-even to 12 decimals: exact when the range is 30 days, the default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import TypeVar

from oneflow_ai.pricing.catalog import ModelPrice
from oneflow_ai.pricing.engine import Cost, PricingEngine, decimal_str, exact, to_cents

TOKEN_MODES = frozenset({"chat", "embedding"})
"""The modes priced by the token: the only ones whose traffic can be priced on another model."""
MONTH_DAYS = Decimal(30)
_PROJECTION = Context(prec=60, rounding=ROUND_HALF_EVEN)
_TWELVE = Decimal("1e-12")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Traffic:
    """What one key sent to one model over the range (summed usage aggregates), and what the ledger charged."""

    key_id: str | None
    requested_model: str
    served_model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost: Cost


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model traffic could move to: its price, its quality score and the public model names that route to it
    here (`routes`, empty when none does)."""

    price: ModelPrice
    quality: float
    routes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.price.name


@dataclass(frozen=True, slots=True)
class Alternative:
    candidate: Candidate
    cost: Cost
    saved: Cost
    saved_per_30_days: Cost


@dataclass(frozen=True, slots=True)
class Insight:
    """One model's traffic (of one key, or of all keys when `key_id` is None) and its cheaper alternatives,
    the largest saving first."""

    key_id: str | None
    model: Candidate
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost: Cost
    alternatives: tuple[Alternative, ...] = ()


@dataclass(frozen=True, slots=True)
class Unpriced:
    key_id: str | None
    model: str
    requests: int
    reason: str


@dataclass(frozen=True, slots=True)
class Insights:
    by_model: tuple[Insight, ...]
    by_key: tuple[Insight, ...]
    unpriced: tuple[Unpriced, ...] = field(default=())


Identify = Callable[[Traffic], Candidate | None]
"""The model a row of traffic was priced as (None: no price known)."""


def insights(
    traffic: Iterable[Traffic],
    identify: Identify,
    candidates: Sequence[Candidate],
    pricing: PricingEngine,
    days: Decimal,
) -> Insights:
    """Per model (all keys) and per key and model: the traffic and its cheaper alternatives among `candidates`."""
    per_key: dict[tuple[str | None, str], Insight] = {}
    per_model: dict[str, Insight] = {}
    unpriced: dict[tuple[str | None, str], Unpriced] = {}
    for t in traffic:
        model = identify(t)
        if model is None or model.price.mode not in TOKEN_MODES:
            why = "no price is known for this model" if model is None else f"priced per {model.price.mode} use"
            slot = (t.key_id, t.served_model)
            seen = unpriced.get(slot)
            unpriced[slot] = Unpriced(t.key_id, t.served_model, t.requests + (seen.requests if seen else 0), why)
            continue
        _add(per_key, (t.key_id, model.name), t, model)
        _add(per_model, model.name, replace(t, key_id=None), model)
    compare = _Comparison(candidates, pricing, days)
    return Insights(
        by_model=tuple(sorted((compare(i) for i in per_model.values()), key=_order)),
        by_key=tuple(sorted((compare(i) for i in per_key.values()), key=_order)),
        unpriced=tuple(sorted(unpriced.values(), key=lambda u: (u.key_id or "", u.model))),
    )


def _add(into: dict[K, Insight], slot: K, t: Traffic, model: Candidate) -> None:
    seen = into.get(slot)
    if seen is None:
        into[slot] = Insight(t.key_id, model, t.requests, t.input_tokens, t.output_tokens, t.cached_tokens, t.cost)
        return
    into[slot] = replace(
        seen,
        requests=seen.requests + t.requests,
        input_tokens=seen.input_tokens + t.input_tokens,
        output_tokens=seen.output_tokens + t.output_tokens,
        cached_tokens=seen.cached_tokens + t.cached_tokens,
        cost=seen.cost + t.cost,
    )


def _order(i: Insight) -> tuple[Decimal, str, str]:
    """The largest possible saving first, then by key and model for a stable order."""
    best = i.alternatives[0].saved.usd if i.alternatives else Decimal(0)
    return (-best, i.key_id or "", i.model.name)


class _Comparison:
    def __init__(self, candidates: Sequence[Candidate], pricing: PricingEngine, days: Decimal) -> None:
        if not days > 0:
            raise ValueError(f"days must be > 0, got {days}")
        self.candidates = candidates
        self.pricing = pricing
        self.days = days

    def __call__(self, insight: Insight) -> Insight:
        model = insight.model
        found = []
        for c in self.candidates:
            if c.name == model.name or c.price.mode != model.price.mode or c.quality < model.quality:
                continue
            cost = self.pricing.cost_of(c.price, insight.input_tokens, insight.output_tokens, insight.cached_tokens)
            if cost.usd >= insight.cost.usd:
                continue
            with exact():
                saved = Cost(insight.cost.usd - cost.usd, insight.cost.credits - cost.credits)
            found.append(Alternative(c, cost, saved, Cost(self._monthly(saved.usd), self._monthly(saved.credits))))
        found.sort(key=lambda a: (-a.saved.usd, -a.candidate.quality, a.candidate.name))
        return replace(insight, alternatives=tuple(found))

    def _monthly(self, amount: Decimal) -> Decimal:
        if self.days == MONTH_DAYS:
            return amount
        scaled = _PROJECTION.divide(_PROJECTION.multiply(amount, MONTH_DAYS), self.days)
        return scaled.quantize(_TWELVE, context=_PROJECTION).normalize(_PROJECTION)


def routable(
    groups: Iterable[tuple[str, str, ModelPrice | None, float | None]],
) -> list[Candidate]:
    """Candidates from the configured public models: `(public name, mode, price of its first deployment, that
    deployment's own quality score)`; public models served by the same catalog model make one candidate that
    lists every name (priced and scored as the first of them)."""
    by_name: dict[str, Candidate] = {}
    for public, mode, price, quality in groups:
        if price is None or price.mode not in TOKEN_MODES or mode != price.mode:
            continue
        seen = by_name.get(price.name)
        if seen is None:
            by_name[price.name] = Candidate(price, price.quality if quality is None else quality, (public,))
        elif public not in seen.routes:
            by_name[price.name] = replace(seen, routes=(*seen.routes, public))
    return list(by_name.values())


def catalogued(models: Iterable[ModelPrice], routes: Mapping[str, tuple[str, ...]]) -> list[Candidate]:
    """Candidates from every token-priced model of the catalog, with the public names that route to each."""
    return [Candidate(p, p.quality, routes.get(p.name, ())) for p in models if p.mode in TOKEN_MODES]


def sentence(insight: Insight, alternative: Alternative, days: Decimal, who: str) -> str:
    """`moving key `ci` from gpt-4o to gpt-4o-mini would have saved 312 credits in the last 30 days` (`who`: what
    moves, `key `ci``), the credits rounded to the cent."""
    to = alternative.candidate.name
    if alternative.candidate.routes:
        to += f" (model `{alternative.candidate.routes[0]}` here)"
    credits = decimal_str(to_cents(alternative.saved.credits))
    span = f"{decimal_str(days)} days" if days != 1 else "day"
    return f"moving {who} from {insight.model.name} to {to} would have saved {credits} credits in the last {span}"
