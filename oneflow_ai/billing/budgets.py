"""Budget enforcement, one component in two of the pipeline's seams.

- As an `Admission`, before the call: find the budgets the call falls under (its scopes' and the one its key
  names, `budget_id`), bound its cost (estimated prompt tokens and the longest answer it can get, see
  `billing.estimate`, at the price of the group's first deployment) and reserve it in every one of them, or
  refuse the call with `QuotaExceeded` (429 `insufficient_quota`) when one has no room for its minimum.
- As an `Observer`, when the call's ledger record is written: release the reservation and add the actual cost
  (in a task: observers never block), noting the soft thresholds the spend crossed, once per period. Those
  events are written behind by the background task, which also reloads budgets added on other replicas.

With no budget at all, `admit` and `recorded` return at their first line.

When Redis cannot be reached (at start-up or on a call), `fail_mode` decides, as for rate limits: `open` admits
the call without a hold (its spend is still recorded in the ledger, and the counters are seeded again from the
aggregates once Redis answers), `closed` refuses it with 503 `budget_store_unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.billing.book import BudgetBook, from_config
from oneflow_ai.billing.budget import Budget, Slot, call_scopes, record_scopes
from oneflow_ai.billing.counters import Counters, LocalCounters
from oneflow_ai.billing.estimate import SHORT_ANSWER, answer_limit
from oneflow_ai.billing.periods import EPOCH, crossed, period_end, remaining
from oneflow_ai.billing.repository import BudgetRepository
from oneflow_ai.config.schema import BudgetConfig, Deployment, ModelGroup
from oneflow_ai.errors import GatewayError, QuotaExceeded
from oneflow_ai.events.budgets import exhausted
from oneflow_ai.events.event import Event
from oneflow_ai.gateway.call import MEDIA_ENDPOINTS, Call, estimated_tokens
from oneflow_ai.gateway.stages import DONE, QuietObserver
from oneflow_ai.pricing import DeploymentPrices, PricingEngine, TokenCounter, decimal_str
from oneflow_ai.pricing.media import media_hold, seconds_of_wav
from oneflow_ai.store.ledger import UsageRecord
from oneflow_ai.store.redis_batches import RedisBatches
from oneflow_ai.store.redis_errors import unreachable
from oneflow_ai.store.room_view import RoomView

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("oneflow.budgets")
STORE_WARN_EVERY_S = 10.0

ZERO = Decimal(0)
RESEED_EVERY = 6
"""With Redis, every sixth reload (a minute) seeds every current counter again from the aggregates."""


class Budgets(QuietObserver):
    def __init__(
        self,
        book: BudgetBook,
        repository: BudgetRepository,
        counters: Counters,
        pricing: PricingEngine,
        tokens: TokenCounter,
        models: Mapping[str, ModelGroup],
        prices: Callable[[], DeploymentPrices],
        *,
        shared: bool = False,
        fail_mode: Literal["open", "closed"] = "open",
        hold_s: float = 900.0,
        tick_s: float = 1.0,
        reload_s: float = 10.0,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.book = book
        self._repository = repository
        self._counters = counters
        self._fail_mode = fail_mode
        self._warned_at = -STORE_WARN_EVERY_S
        self._pricing = pricing
        self._tokens = tokens
        self._models = models
        self._prices = prices
        """The gateway's current deployment prices (a catalog reload swaps them)."""
        self._shared = shared
        self.remote = shared
        """An admission that waits on Redis (see `gateway.stages`)."""
        self._hold_s, self._tick_s, self._reload_s = hold_s, tick_s, reload_s
        self._wall = wall
        self._holds: dict[str, tuple[float, tuple[Slot, ...]]] = {}
        """request id -> (when, the slots it holds a reservation in), until its record settles it."""
        self._seeded: set[str] = set()
        self._fired: set[tuple[str, datetime, Decimal]] = set()
        self._events: list[dict[str, Any]] = []
        self._slots: dict[str, tuple[Slot, datetime | None]] = {}
        self._amounts: dict[str, tuple[Budget, tuple[Decimal, ...]]] = {}
        """Budget id -> the budget and its thresholds in dollars (to tell quickly that a spend crossed none)."""
        """Budget id -> its current slot and when that slot's period ends."""
        self._task: asyncio.Task[None] | None = None
        self.emit: Callable[[Event], None] | None = None
        """Where a budget's refusing calls for want of room is reported (`quota.exhausted`, once per period)."""
        self._exhausted: set[str] = set()

    # -- the Admission seam ------------------------------------------------------------------------------------
    def admit(self, call: Call) -> Awaitable[None]:
        if not self.book.index:
            return DONE
        group = self._models.get(call.model)
        dep = group.deployments[0] if group is not None else None
        scopes = call_scopes(call, dep.provider if dep is not None else None)
        budgets = self.book.matching(scopes, call.principal.budget_id)
        if not budgets:
            return DONE
        slots = [self._slot(b, call.created_at) for b in budgets]
        estimate, minimum = self._estimate(call, dep)
        return self._reserved(
            call, slots, estimate, self._counters.reserve(call.request_id, slots, estimate, self._hold_s, minimum)
        )

    async def _reserved(
        self, call: Call, slots: list[Slot], estimate: Decimal, pending: Awaitable[Slot | None]
    ) -> None:
        try:
            refused = await pending
        except unreachable() as e:
            self._store_down(e)
            if self._fail_mode == "closed":
                raise GatewayError(
                    "Budgets cannot be checked right now; try again shortly.",
                    status=503,
                    code="budget_store_unavailable",
                    headers={"retry-after": "1"},
                ) from None
            return  # failing open: admitted without a hold
        if refused is not None:
            raise await self._refusal(refused, estimate)
        self._holds[call.request_id] = (time.monotonic(), tuple(slots))

    def _store_down(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= STORE_WARN_EVERY_S:
            self._warned_at = now
            log.warning("budgets: Redis unreachable (%s); failing %s", type(error).__name__, self._fail_mode)

    def _slot(self, budget: Budget, at: datetime) -> Slot:
        """`budget.slot(at)`, kept until the period ends (a period's start is worked out once, not per call)."""
        cached = self._slots.get(budget.id)
        if cached is not None:
            slot, end = cached
            if slot.budget is budget and slot.start <= at and (end is None or at < end):
                return slot
        slot = budget.slot(at)
        if len(self._slots) > 10_000:
            self._slots.clear()
        self._slots[budget.id] = (slot, period_end(budget.period, slot.start))
        return slot

    def _estimate(self, call: Call, dep: Deployment | None) -> tuple[Decimal, Decimal]:
        """The call's largest cost and its minimum (the prompt and a short answer), at the price of the
        deployment expected to serve it (its config override included)."""
        if dep is None:
            return ZERO, ZERO
        price = self._prices().get(dep)
        if price is None:
            return ZERO, ZERO
        if call.endpoint in MEDIA_ENDPOINTS:  # images, characters, seconds (`pricing.media`)
            seconds = seconds_of_wav(call.upload.data) if call.upload is not None else None
            hold = media_hold(call.endpoint, call.body, price, seconds)
            return hold, hold
        prompt, completion = estimated_tokens(call, self._tokens)
        if call.endpoint != "embeddings":  # an embedding has no answer
            completion = answer_limit(call.body, price, prompt)
        largest = self._pricing.cost_of(price, prompt, completion).usd
        if completion <= SHORT_ANSWER:
            return largest, largest
        return largest, self._pricing.cost_of(price, prompt, SHORT_ANSWER).usd

    async def _refusal(self, slot: Slot, estimate: Decimal) -> GatewayError:
        b = slot.budget
        if self.emit is not None and slot.key not in self._exhausted:
            if len(self._exhausted) > 10_000:
                self._exhausted.clear()
            self._exhausted.add(slot.key)
            self.emit(exhausted(b, slot.start, self._wall()))
        try:
            spent, reserved = await self._counters.read(slot)
        except Exception as e:  # the refusal stands (the counters decided it); only its wording lacks what is left
            log.warning("budget %s could not be read to word a refusal (%s)", b.id, type(e).__name__)
            return QuotaExceeded(
                f"Budget exceeded: the {b.period} budget of ${decimal_str(b.limit_usd)} for {b.scope} "
                f"'{b.scope_id}' has no room for this request, estimated at ${decimal_str(estimate)}."
            )
        return QuotaExceeded(
            f"Budget exceeded: the {b.period} budget of ${decimal_str(b.limit_usd)} for {b.scope} '{b.scope_id}' "
            f"has ${decimal_str(remaining(b.limit_usd, spent, reserved))} left; this request is estimated at "
            f"${decimal_str(estimate)}."
        )

    # -- the Observer seam -------------------------------------------------------------------------------------

    def recorded(self, call: Call, record: UsageRecord) -> None:
        held = self._holds.pop(record.request_id, (0.0, ()))[1]
        charged: tuple[Slot, ...] = ()
        if record.cost_usd and self.book.index:
            budgets = self.book.matching(record_scopes(record), call.principal.budget_id)
            charged = tuple(self._slot(b, record.created_at) for b in budgets)
        if not held and not charged:
            return
        cost = record.cost_usd

        def noted(after: list[Decimal]) -> None:
            for slot, spent in zip(charged, after, strict=True):
                self._note_thresholds(slot, spent - cost, spent)

        # Written behind: at once in this process's counters, with the next round trip in Redis's.
        self._counters.settle_behind(record.request_id, held, charged, cost, noted)

    def _note_thresholds(self, slot: Slot, before: Decimal, after: Decimal) -> None:
        b = slot.budget
        amounts = self._amounts.get(b.id)
        if amounts is None or amounts[0] is not b:
            amounts = self._amounts[b.id] = (b, tuple(t * b.limit_usd for t in b.thresholds))
        if not any(before < a <= after for a in amounts[1]):  # most calls cross none: no more work
            return
        for threshold in crossed(b.thresholds, b.limit_usd, before, after):
            key = (b.id, slot.start, threshold)
            if key in self._fired:
                continue
            self._fired.add(key)
            self._events.append(
                {
                    "budget_id": b.id,
                    "budget": b,  # for the outbox's event, not a column
                    "period_start": slot.start,
                    "threshold": threshold,
                    "spend_usd": after,
                    "created_at": self._wall(),
                }
            )
            log.warning(
                "budget %s (%s %s, %s $%s) reached %s%%",
                b.id,
                b.scope,
                b.scope_id,
                b.period,
                decimal_str(b.limit_usd),
                decimal_str(threshold * 100),
            )

    # -- what the admin API shows ------------------------------------------------------------------------------
    async def status(self, budget: Budget) -> dict[str, Any]:
        slot = budget.slot(self._wall())
        spent, reserved = await self._counters.read(slot)
        return {
            "period_start": slot.start.isoformat(),
            "spent_usd": decimal_str(spent),
            "reserved_usd": decimal_str(reserved),
            "remaining_usd": decimal_str(remaining(budget.limit_usd, spent, reserved)),
        }

    async def seed(self, budgets: list[Budget], *, again: bool = False) -> None:
        """Start the current period's counters of `budgets` from the hourly aggregates (once, unless `again`)."""
        now = self._wall()
        slots = [s for s in (b.slot(now) for b in budgets) if again or s.key not in self._seeded]
        if not slots:
            return
        spent = await self._repository.spent(slots)
        for slot in slots:
            await self._counters.seed(slot, spent[slot.key])
            self._seeded.add(slot.key)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.book.reload()
        self._fired = await self._repository.fired(self._wall() - timedelta(days=32))
        try:
            await self.seed(list(self.book))
        except unreachable() as e:  # Redis down at start-up: the upkeep seeds them once it answers
            self._store_down(e)
        self._task = asyncio.create_task(self._run(), name="oneflow-budgets")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._counters.drain()
        try:
            await self._flush_events()
        except Exception:  # shutdown goes on (the ledger still has to flush); the events are only lost
            log.exception("could not write %d budget threshold events", len(self._events))

    async def _flush_events(self) -> None:
        events, self._events = self._events, []
        try:
            await self._repository.add_events(events)
        except BaseException:
            self._events[:0] = events
            raise

    async def _run(self) -> None:
        reloaded, reloads = time.monotonic(), 0
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                await self._flush_events()
                now = self._wall()
                await self._counters.sweep(now)
                lapsed = time.monotonic() - self._hold_s  # a call that never settled (its counters lapse too)
                self._holds = {rid: h for rid, h in self._holds.items() if h[0] > lapsed}
                if time.monotonic() - reloaded >= self._reload_s:
                    reloaded, reloads = time.monotonic(), reloads + 1
                    await self.book.reload()
                    # Shared counters are seeded again now and then: a no-op unless Redis lost them.
                    await self.seed(list(self.book), again=self._shared and reloads % RESEED_EVERY == 0)
                    self._seeded &= {b.slot(now).key for b in self.book}
                    old = now - timedelta(days=32)
                    self._fired = {f for f in self._fired if f[1] >= old or f[1] == EPOCH}
            except Exception:
                log.exception("budget upkeep failed; trying again in %ss", self._tick_s)


def build_budgets(
    engine: AsyncEngine,
    config: Sequence[BudgetConfig],
    pricing: PricingEngine,
    tokens: TokenCounter,
    models: Mapping[str, ModelGroup],
    prices: Callable[[], DeploymentPrices],
    redis: Redis | None,
    batches: RedisBatches | None = None,
    *,
    shared_view_s: float = 0.0,
    fail_mode: Literal["open", "closed"] = "open",
) -> Budgets:
    """The gateway's budgets: the config file's (`config`) and the database's, counted in Redis when there is one
    (the hot path's calls through `batches`, the round trips it shares with the rate limits; with `shared_view_s`,
    calls far from a limit are held on this replica's recent view of Redis's counts without waiting, see
    `store.room_view`). `prices`: the gateway's current deployment prices (a catalog reload swaps them)."""
    repository = BudgetRepository(engine)
    counters: Counters = LocalCounters()
    if redis is not None:
        if batches is None:
            raise ValueError("budgets counted in Redis need the hot path's Redis batches")
        from oneflow_ai.billing.redis_counters import RedisCounters  # redis-py, with a Redis only

        counters = RedisCounters(redis, batches, view=RoomView(shared_view_s) if shared_view_s > 0 else None)
    book = BudgetBook(repository, from_config(config))
    return Budgets(
        book, repository, counters, pricing, tokens, models, prices, shared=redis is not None, fail_mode=fail_mode
    )
