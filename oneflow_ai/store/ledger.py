"""The usage ledger: one record per request, written behind the request in batches.

`record()` is a synchronous append on the hot path. A background task inserts what has gathered every
`interval_s` (sooner when a batch is full). A failed insert puts its batch back and is tried again; the
request id is the primary key and inserts skip ids already present, so a retry never counts twice; the same
transaction adds the rows it inserted (and only those) into the hourly and daily aggregates (`aggregates.py`).
`close()` flushes everything before shutdown.

A batch the database refuses for its data (`dead_letters.refused`: a value too long, a NUL character) is split
in halves, each written on its own, until the refused record is alone: it is set aside as a dead letter
(`ledger_dead_letters`), counted in `dead_lettered` and logged, and every other record is written. So one bad
record costs about 2 x log2(batch) small transactions once, never the ledger. A failure to answer (the
database down) keeps every record for the next try, and `unwritable` says why until a write succeeds
(`/ready` answers 503 meanwhile).

With a `journal` (`store.journal`, on by default) every record is also appended to a local file as it is recorded,
and the journals of dead processes on this host are replayed at start and every `takeover_s`: a process killed with
SIGKILL loses none of the records it had not written yet.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.store import dead_letters
from oneflow_ai.store.dead_letters import describe, refused
from oneflow_ai.store.journal import Journal
from oneflow_ai.store.ledger_writer import writer_for

log = logging.getLogger("oneflow.ledger")


@dataclass(slots=True)
class UsageRecord:
    request_id: str
    created_at: datetime
    endpoint: str
    requested_model: str
    status: str
    http_status: int
    cost_usd: Decimal
    credits: Decimal
    usage_source: str
    key_id: str | None = None
    user_id: str | None = None
    end_user: str | None = None
    department_id: str | None = None
    tenant_id: str | None = None
    served_model: str | None = None
    provider: str | None = None
    deployment_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: float | None = None
    ttft_ms: float | None = None
    attempts: int = 1
    cache_hit: bool = False
    streamed: bool = False
    cache_kind: str | None = None
    """How a cache hit matched: `exact` or `semantic` (None when not served from the cache)."""
    saved_usd: Decimal = Decimal(0)
    """What a cache hit saved: the cost of the call that filled the entry."""
    guardrail: str | None = None
    """The guardrail policies and entity types that acted on the call (`pci_dss:CREDIT_CARD`), never a value."""
    guardrail_action: str | None = None
    """The strongest guardrail action taken: `block`, `redact`, `mask`, `warn` or `log`."""
    unit: str = "tokens"
    """What the call is priced by: `tokens`, `images`, `characters` or `seconds`."""
    quantity: Decimal = Decimal(0)
    """How many of `unit` it used, for the units other than tokens (images, characters of speech, seconds)."""
    experiment: str | None = None
    """The A/B experiment (its id) that chose the call's model, if one did (`oneflow_ai.experiments`)."""
    variant: str | None = None
    """The experiment's variant (its name) the call was sent to."""


class Ledger:
    """`high_water` (default 20 batches) bounds what may wait to be written: above it, `room()` makes new calls
    wait until the writer is back under half of it. Under overload the gateway slows down instead of holding an
    ever longer queue of records in memory (and losing more of them in a crash)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        batch_size: int = 500,
        interval_s: float = 0.25,
        high_water: int | None = None,
        journal: Journal | None = None,
        takeover_s: float = 5.0,
    ) -> None:
        self._engine = engine
        self._journal = journal
        self._takeover_s = takeover_s
        self._flushing = asyncio.Lock()
        self._batch_size = batch_size
        self._interval_s = interval_s
        self.high_water = high_water if high_water is not None else 20 * batch_size
        self._pending: list[UsageRecord] = []
        self._writing = 0
        """Records taken by the flush under way and not yet written."""
        self._room: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._writer = writer_for(engine, batch_size)
        self.dead_lettered = 0
        """Records set aside as dead letters since start (`ledger_dead_letter_total`)."""
        self.unwritable: str | None = None
        """Why the last write failed, until a write succeeds (readiness)."""

    @property
    def depth(self) -> int:
        """Records not yet written: pending, and in the flush under way."""
        return len(self._pending) + self._writing

    async def room(self) -> None:
        """Until the records waiting to be written are back under half the high-water mark."""
        while self.depth > self.high_water // 2:
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            self._wake.set()
            await asyncio.shield(self._room)

    def _released(self) -> None:
        if self._room is not None and not self._room.done() and self.depth <= self.high_water // 2:
            self._room.set_result(None)

    @property
    def journaled(self) -> bool:
        return self._journal is not None

    def record(self, rec: UsageRecord) -> None:
        self._pending.append(rec)
        self._writer.note(rec)
        if self._journal is not None:
            self._journal.record(rec)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def intend(self, intent: tuple[Any, ...]) -> None:
        """Before an upstream attempt: what a replay records (`interrupted`) if the call's own record never comes
        (`journal.INTENT_FIELDS`)."""
        if self._journal is not None:
            self._journal.intend(intent)

    def start(self) -> None:
        if self._journal is not None:
            self._journal.open()
            self._journal.take_over(self.record)
        self._task = asyncio.create_task(self._run(), name="oneflow-ledger")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        written = False
        try:
            await self.flush()
            written = not self._pending
        finally:
            await self._writer.close()
            if self._journal is not None:
                self._journal.close(written=written)

    async def flush(self) -> int:
        """Insert what is pending now; on failure the records stay pending (ahead of newer ones) and the error is
        raised (a retry skips what was written). Records that arrive meanwhile wait for the next flush: under
        steady load a flush that chased them would never end, writing a few rows per transaction. Records the
        database refuses are set aside (see the module), not raised."""
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> int:
        taken, self._pending = self._pending, []
        if not taken:
            return 0
        if self._journal is not None:
            self._journal.seal()  # what `taken` holds is in the sealed segments (and in those of failed flushes)
        self._writing = len(taken)
        aside: list[UsageRecord] = []
        try:
            try:
                await self._writer.write(taken)
            except Exception as e:
                if not refused(e):
                    raise
                self._writer.forget()
                await self._apart(taken, e, aside)
        except BaseException as e:
            if aside:
                self._writer.forget()
                kept = {id(r) for r in aside}
                taken = [r for r in taken if id(r) not in kept]
            self._pending[:0] = taken
            if isinstance(e, Exception):
                self.unwritable = describe(e)
            raise
        finally:
            self._writing = 0
            self._released()
        self.unwritable = None
        if self._journal is not None:
            self._journal.committed()
        return len(taken) - len(aside)

    async def _apart(self, records: list[UsageRecord], error: Exception, aside: list[UsageRecord]) -> None:
        """`records` failed together for their data: write each half on its own, splitting again the half that
        fails the same way, and set aside a record that fails alone. Raises on any other failure."""
        if len(records) == 1:
            await self._set_aside(records[0], error)
            aside.append(records[0])
            return
        middle = len(records) // 2
        for half in (records[:middle], records[middle:]):
            try:
                await self._writer.write(half)
            except Exception as e:
                if not refused(e):
                    raise
                await self._apart(half, e, aside)

    async def _set_aside(self, rec: UsageRecord, error: Exception) -> None:
        why = describe(error)
        try:
            await self._writer.set_aside(rec, why)
        except Exception as e:
            if not refused(e):
                raise  # the database stopped answering: the record stays pending, to be tried again
            # cannot happen (a dead letter is ASCII text); were it to, the log keeps the record
            log.error("ledger: dead letter refused too (%s); the record: %s", describe(e), dead_letters.as_json(rec))
        self.dead_lettered += 1
        log.error(
            "ledger: record %s refused by the database (%s); set aside in ledger_dead_letters",
            rec.request_id,
            why,
            extra={"request_id": rec.request_id},
        )

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        takeover_at = loop.time() + self._takeover_s
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._journal is not None and loop.time() >= takeover_at:
                takeover_at = loop.time() + self._takeover_s
                try:
                    self._journal.take_over(self.record)  # a replica that died on this host and was not restarted
                except OSError:
                    log.exception("ledger journal: taking over dead processes' journals failed")
            try:
                await self.flush()
                failures = 0
            except Exception:
                failures += 1
                log.exception("ledger flush failed; %d records kept for the next try", self.depth)
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))
