"""Rate limits as a pipeline stage: an `Admission` that charges the call's buckets before any upstream is called,
and an `Observer` that reconciles the token estimate with the tokens the ledger record really counted.

A call is charged on every limit that applies to it: its key's, user's and tenant's (carried by the `Principal`),
its end user's and its model's (from the settings). Requests cost 1; tokens cost the estimate (prompt plus
`max_tokens`, or 256) until the record says otherwise. The most constraining request and token buckets are
reported in OpenAI's `x-ratelimit-*` headers; a refusal is a 429 `rate_limit_exceeded` with `Retry-After`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from oneflow_ai.auth.principal import Limit
from oneflow_ai.errors import RateLimited
from oneflow_ai.gateway.call import Call, estimated_tokens
from oneflow_ai.gateway.stages import DONE, QuietObserver
from oneflow_ai.identity.buckets import Rate, Verdict
from oneflow_ai.identity.config import IdentitySettings
from oneflow_ai.identity.limiter import Charge, Limiter, RedisLimiter
from oneflow_ai.pricing import TokenCounter
from oneflow_ai.store.ledger import UsageRecord

KEY_PREFIX = "oneflow:rl:"
FORGET_AFTER_S = 600.0
SUBJECTS = {
    "key": "this API key",
    "user": "your user",
    "tenant": "your organization",
    "eu": "this end user",
    "model": "this model",
}


@dataclass(slots=True)
class _Reserved:
    call: Call
    charges: list[Charge]
    estimate: int


class RateLimits(QuietObserver):
    def __init__(self, limiter: Limiter, tokens: TokenCounter, settings: IdentitySettings) -> None:
        self._limiter = limiter
        self._tokens = tokens
        self._settings = settings
        self._reserved: dict[int, _Reserved] = {}
        self._per_end_user = bool(settings.end_user_rpm or settings.end_user_tpm)
        models = {*settings.model_rpm, *settings.model_tpm}
        self._per_model = {
            m: _per_minute(f"model:{m}", settings.model_rpm.get(m), settings.model_tpm.get(m)) for m in models
        }
        self._buckets: dict[Limit, tuple[str, Rate, bool]] = {}
        """Per limit: its bucket key, its rate, and whether it counts tokens (built once per limit)."""
        self._plans: dict[int, tuple[tuple[Limit, ...], list[Limit], list[tuple[str, Rate, bool]]]] = {}
        """Per principal's limits (by identity; the tuple is kept, so its id is not reused): its limits' buckets."""
        self.remote = isinstance(limiter, RedisLimiter)
        """An admission that waits on Redis (see `gateway.stages`)."""

    def limits(self, call: Call) -> list[Limit]:
        s = self._settings
        out = list(call.principal.limits)
        if call.end_user and self._per_end_user:
            subject = f"eu:{call.principal.tenant_id or '-'}:{call.end_user[:256]}"
            out += _per_minute(subject, s.end_user_rpm, s.end_user_tpm)
        if self._per_model:
            out += self._per_model.get(call.model, ())
        return out

    def _bucket(self, limit: Limit) -> tuple[str, Rate, bool]:
        found = self._buckets.get(limit)
        if found is None:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            found = self._buckets[limit] = (
                bucket_key(limit),
                Rate(limit.amount, limit.period_s),
                limit.kind == "tokens",
            )
        return found

    def _planned(self, call: Call) -> tuple[list[Limit], list[tuple[str, Rate, bool]]]:
        """The call's limits and their buckets; those of a key alone are worked out once per cached key."""
        own = call.principal.limits
        if (call.end_user and self._per_end_user) or call.model in self._per_model:
            limits = self.limits(call)
            return limits, [self._bucket(lim) for lim in limits]
        plan = self._plans.get(id(own))
        if plan is None or plan[0] is not own:
            if len(self._plans) > 10_000:
                self._plans.clear()
            plan = self._plans[id(own)] = (own, list(own), [self._bucket(lim) for lim in own])
        return plan[1], plan[2]

    def admit(self, call: Call) -> Awaitable[None]:
        limits, buckets = self._planned(call)
        if not limits:
            return DONE
        estimate = sum(estimated_tokens(call, self._tokens)) if any(b[2] for b in buckets) else 0
        charges = [Charge(key, rate, estimate if tokens else 1) for key, rate, tokens in buckets]
        return self._checked(call, limits, buckets, charges, estimate, self._limiter.take(charges))

    async def _checked(
        self,
        call: Call,
        limits: list[Limit],
        buckets: list[tuple[str, Rate, bool]],
        charges: list[Charge],
        estimate: int,
        pending: Awaitable[list[Verdict]],
    ) -> None:
        verdicts = await pending
        headers = rate_headers(limits, verdicts)
        if not verdicts[0].allowed:
            retry = max(v.retry_after_s for v in verdicts)
            worst = max(zip(limits, verdicts, strict=True), key=lambda lv: lv[1].retry_after_s)[0]
            raise RateLimited(
                f"Rate limit reached for {SUBJECTS.get(worst.subject.partition(':')[0], worst.subject)}: "
                f"{worst.amount} {worst.kind} per {_period(worst.period_s)}. Try again in {math.ceil(retry)}s.",
                headers={**headers, "retry-after": str(max(1, math.ceil(retry)))},
            )
        call.response_headers.update(headers)
        tokens = [c for c, b in zip(charges, buckets, strict=True) if b[2]]
        if tokens:
            if len(self._reserved) > 10_000:
                self._forget_stale()
            self._reserved[id(call)] = _Reserved(call, tokens, estimate)

    def recorded(self, call: Call, record: UsageRecord) -> None:
        reserved = self._reserved.pop(id(call), None)
        if reserved is None or reserved.call is not call:
            return
        delta = record.input_tokens + record.output_tokens - reserved.estimate
        if delta:
            self._limiter.adjust([Charge(c.key, c.rate, delta) for c in reserved.charges])

    def _forget_stale(self) -> None:
        """Calls that never reached a record (cancelled mid-flight) must not pile up."""
        now = time.perf_counter()
        for k in [k for k, r in self._reserved.items() if now - r.call.started > FORGET_AFTER_S]:
            del self._reserved[k]


def bucket_key(limit: Limit) -> str:
    return f"{KEY_PREFIX}{limit.subject}:{limit.kind[0]}:{limit.amount}:{limit.period_s}"


def rate_headers(limits: list[Limit], verdicts: list[Verdict]) -> dict[str, str]:
    """OpenAI's `x-ratelimit-*` headers: per kind, the bucket with the least left (the later reset on a tie)."""
    worst: dict[str, Verdict] = {}
    for lim, v in zip(limits, verdicts, strict=True):
        w = worst.get(lim.kind)
        if w is None or v.remaining < w.remaining or (v.remaining == w.remaining and v.reset_s > w.reset_s):
            worst[lim.kind] = v
    headers: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        found = worst.get(kind)
        if found is not None:
            headers[f"x-ratelimit-limit-{kind}"] = str(found.limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(found.remaining)
            headers[f"x-ratelimit-reset-{kind}"] = duration(found.reset_s)
    return headers


def duration(seconds: float) -> str:
    """OpenAI's format: `20ms`, `1.5s`, `6m0s`, `1h2m3s`."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{math.ceil(seconds * 100) / 100:g}s"
    whole = math.ceil(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m}m{s}s" if h else f"{m}m{s}s"


def _per_minute(subject: str, rpm: int | None, tpm: int | None) -> tuple[Limit, ...]:
    return (
        *([Limit(subject, "requests", rpm, 60)] if rpm else []),
        *([Limit(subject, "tokens", tpm, 60)] if tpm else []),
    )


def _period(seconds: int) -> str:
    return {60: "minute", 3600: "hour", 86400: "day"}.get(seconds, f"{seconds}s")
