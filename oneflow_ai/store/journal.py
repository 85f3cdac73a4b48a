"""The ledger's journal: each usage record appended to a local file before its call's answer is complete, so that a
process killed with SIGKILL loses none of the records still waiting to be written behind (`store.ledger` writes
them in batches every `interval_s`; without the journal, a kill under load lost the 12 to 48 records of served calls
waiting for the next batch).

**Files.** A process owns `<pid>-<start_ns>.lock` (held with `fcntl.flock` for the process's life) and its segments
`<pid>-<start_ns>.<seq>.jsonl`, in one directory per host (`ONEFLOW_LEDGER_JOURNAL_DIR`, default
`<data dir>/ledger-journal`; every replica and worker on a host should share it, so that any of them takes over a
dead one's journal). A line is one record as a JSON array (`RECORD`, then its values), written with one `os.write`
on an `O_APPEND` descriptor: the kernel keeps a write once it returned, whatever happens to the process afterwards.
That covers a killed process (SIGKILL, the OOM killer, a crash), not the machine losing power: for that the write
must reach the disk, which `sync=True` (`ONEFLOW_LEDGER_JOURNAL_SYNC=1`: `O_DSYNC`, each write waits for the disk)
gives at the price of a disk flush per call, on the event loop (see the README for what it costs).

**When.** `record` is called when the call's record is made: before a JSON answer is sent (`gateway.accounting`
records a served call before its reply leaves, its observers are told after), and at the end of a stream's relay,
before the server sends the chunked body's terminator. So a client holding a complete answer implies a journal line.
`intend` is called before each upstream attempt: a line with the call as far as it is known (`interrupted`, HTTP
status 502, no tokens, no cost); the call's own record replaces it. A process killed between the two leaves only
the intent, and the replay records the call as `interrupted`: the upstream may have served (and billed) it, its
client got no complete answer, so the row charges nothing and tells the operator which deployment, key and time to
reconcile against the provider's invoice.

**Done.** At every flush the ledger seals the current segment (`seal`: later lines go to a new one, which first
gets the intents of the calls still in flight) and, once the batch is committed, deletes the sealed segments
(`committed`). A failed batch keeps them until a later flush writes its records.

**Replay.** `take_over(record)`: every lock file in the directory whose lock can be taken belongs to a dead process
(a live one holds its own); its segments are read in order, each request's last record (or, lacking one, its last
intent) handed to `record` (the ledger, which journals it again in its own segment and writes it with the next
batch), then the segments and the lock file are deleted. Two live processes never replay the same journal: the lock
is held from before the first segment is read until after the last is deleted. The ledger's insert skips request
ids already written (`ON CONFLICT (request_id) DO NOTHING`, and only inserted rows enter the aggregates), so a
record replayed after its batch had committed counts once: none lost, none twice. A line torn by a failed write (a
full disk) is skipped with a warning, the lines before and after it kept.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from oneflow_ai.store.dead_letters import as_json

if TYPE_CHECKING:
    from oneflow_ai.store.ledger import UsageRecord

log = logging.getLogger("oneflow.ledger")

INTERRUPTED = "interrupted"
"""The status of an intent, and of the record a replay makes of a call that has nothing else."""
INTERRUPTED_HTTP_STATUS = 502
"""What the client of an interrupted call saw: the connection closed without an answer (a proxy's 502)."""
INTENT_MAX_AGE_S = 3600.0
"""An intent still open after this long belongs to a call that ended without a record (its task cancelled): it is
not carried into new segments any more."""

INTENT = "intent"
"""An intent line is a JSON array: this, then the values of `INTENT_FIELDS` in their order."""
INTENT_FIELDS = (
    "request_id",
    "created_at",
    "endpoint",
    "requested_model",
    "key_id",
    "user_id",
    "end_user",
    "department_id",
    "tenant_id",
    "served_model",
    "provider",
    "deployment_id",
    "attempts",
    "streamed",
    "experiment",
    "variant",
)
INTERRUPTED_VALUES = {
    "status": INTERRUPTED,
    "http_status": INTERRUPTED_HTTP_STATUS,
    "cost_usd": "0",
    "credits": "0",
    "usage_source": "none",
}

RECORD = "record"
"""A record line is a JSON array too: this, then the values of `RECORD_FIELDS` in their order. Not an object keyed
by field name: orjson walks a slotted dataclass field by field through Python attributes (`attrgetter` takes the
values in one C call), and the names make the line over twice as long (~710 bytes a record instead of ~310)."""
RECORD_FIELDS = (
    "request_id",
    "created_at",
    "endpoint",
    "requested_model",
    "status",
    "http_status",
    "cost_usd",
    "credits",
    "usage_source",
    "key_id",
    "user_id",
    "end_user",
    "department_id",
    "tenant_id",
    "served_model",
    "provider",
    "deployment_id",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "latency_ms",
    "ttft_ms",
    "attempts",
    "cache_hit",
    "streamed",
    "cache_kind",
    "saved_usd",
    "guardrail",
    "guardrail_action",
    "unit",
    "quantity",
    "experiment",
    "variant",
)
"""`UsageRecord`'s fields, in its order (checked when a journal is made): a new field goes at the end, so that
every release reads every other's lines (a value past the fields it knows is ignored, a missing one defaulted)."""

_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NAIVE_UTC
_DECIMALS = ("cost_usd", "credits", "saved_usd", "quantity")
_values = attrgetter(*RECORD_FIELDS)


def line(rec: UsageRecord) -> bytes:
    """A record as one journal line (money as decimal strings, so exact). A value orjson refuses (an integer past 64
    bits, a lone surrogate: the database will refuse it too, and the ledger set it aside) is written as the dead
    letters write it (an object, read back as well)."""
    try:
        return orjson.dumps((RECORD, *_values(rec)), default=str, option=_OPTIONS)
    except TypeError:
        return as_json(rec).encode() + b"\n"


def check_fields() -> None:
    """Raise if `UsageRecord`'s fields are not `RECORD_FIELDS` (a field added to one and not the other)."""
    from oneflow_ai.store.ledger import UsageRecord

    if tuple(f.name for f in fields(UsageRecord)) != RECORD_FIELDS:
        raise RuntimeError("UsageRecord's fields changed: append the new ones to journal.RECORD_FIELDS")


class Journal:
    def __init__(self, directory: Path, *, sync: bool = False) -> None:
        check_fields()
        self.directory = directory
        self._sync = sync
        self._owner = f"{os.getpid()}-{time.time_ns()}"
        self._lock_fd = -1
        self._fd = -1
        self._seq = 0
        self._segment: Path | None = None
        self._sealed: list[Path] = []
        self._intents: dict[str, tuple[float, bytes]] = {}
        self._failing = False
        self.errors = 0
        """Lines that could not be written (a full disk): those records are in memory only until written."""

    def open(self) -> None:
        """Take this process's lock (under a temporary name, renamed once held: a lock file another process can see
        is always held while its owner lives) and open the first segment."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"{self._owner}.lock"
        temporary = final.with_suffix(".lock.tmp")
        self._lock_fd = os.open(temporary, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(temporary, final)
        self._next_segment()

    def _next_segment(self) -> None:
        self._seq += 1
        self._segment = self.directory / f"{self._owner}.{self._seq:08d}.jsonl"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (os.O_DSYNC if self._sync else 0)
        self._fd = os.open(self._segment, flags, 0o600)

    def record(self, rec: UsageRecord) -> None:
        """Append the record (one `write`); the call's intent, if any, is done with."""
        self._write(line(rec))
        if self._intents:
            self._intents.pop(rec.request_id, None)

    def intend(self, intent: tuple[Any, ...]) -> None:
        """Append what a replay records if the call's own record never comes: `INTENT`, then the values of
        `INTENT_FIELDS` (the record is `interrupted`, its other fields take `INTERRUPTED_VALUES` or their defaults)."""
        try:
            data = orjson.dumps(intent, option=_OPTIONS)
        except TypeError:  # a value orjson refuses (a lone surrogate in a model name): the record will say it all
            return
        self._intents[intent[1]] = (time.monotonic(), data)
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # only when the disk is full (then the next write raises)
                written += os.write(self._fd, data[written:])
        except OSError as e:
            self.errors += 1
            if not self._failing:
                self._failing = True
                log.error("ledger journal: cannot write %s (%s); records are kept in memory only", self._segment, e)
            return
        if self._failing:
            self._failing = False
            log.warning("ledger journal: writing again to %s", self._segment)

    def seal(self) -> None:
        """Lines from now on go to a new segment, which starts with the intents of the calls still in flight."""
        sealed = self._segment
        old = self._fd
        self._next_segment()
        os.close(old)
        if sealed is not None:
            self._sealed.append(sealed)
        if self._intents:
            oldest = time.monotonic() - INTENT_MAX_AGE_S
            self._intents = {k: v for k, v in self._intents.items() if v[0] >= oldest}
            if self._intents:
                self._write(b"".join(data for _, data in self._intents.values()))

    def committed(self) -> None:
        """The records of every sealed segment are in the database: delete those segments."""
        for path in self._sealed:
            path.unlink(missing_ok=True)
        self._sealed = []

    def close(self, *, written: bool) -> None:
        """Release the lock. `written`: every record is in the database, so the files go too; otherwise they stay,
        for the next process on this host to replay."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock_fd < 0:
            return
        if written and not self._intents:
            self.committed()
            if self._segment is not None:
                self._segment.unlink(missing_ok=True)
            (self.directory / f"{self._owner}.lock").unlink(missing_ok=True)
        os.close(self._lock_fd)
        self._lock_fd = -1

    def take_over(self, record: Callable[[UsageRecord], None]) -> int:
        """Replay the journals of the dead processes on this host into `record`, then delete them; how many records."""
        count = 0
        for lock in sorted(self.directory.glob("*.lock")):
            owner = lock.name.removesuffix(".lock")
            if owner == self._owner:
                continue
            try:
                fd = os.open(lock, os.O_RDWR)
            except FileNotFoundError:  # another process took it over meanwhile
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its owner lives
                segments = sorted(self.directory.glob(f"{owner}.*.jsonl"))
                records = replayed(segments)
                for rec in records:
                    record(rec)
                for path in segments:
                    path.unlink(missing_ok=True)
                lock.unlink(missing_ok=True)
                if records:
                    log.warning("ledger journal: replayed %d records of process %s", len(records), owner)
                count += len(records)
            finally:
                os.close(fd)
        self._clean_temporary()
        return count

    def _clean_temporary(self) -> None:
        """Lock files of processes killed before they renamed them (no segment was ever written)."""
        for path in self.directory.glob("*.lock.tmp"):
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink(missing_ok=True)
            except BlockingIOError:
                pass
            finally:
                os.close(fd)


def replayed(segments: Iterable[Path]) -> list[UsageRecord]:
    """The records the segments hold, in order: per request its last record, or its last intent if it has none."""
    by_id: dict[str, UsageRecord] = {}
    for path in segments:
        for number, raw in enumerate(path.read_bytes().splitlines(), 1):
            if not raw.strip():
                continue
            try:
                rec = as_record(_loads(raw))
            except (ValueError, TypeError, KeyError, ArithmeticError) as e:
                log.warning("ledger journal: %s line %d unreadable (%s), skipped", path.name, number, type(e).__name__)
                continue
            held = by_id.get(rec.request_id)
            if held is None or rec.status != INTERRUPTED or held.status == INTERRUPTED:
                by_id[rec.request_id] = rec
    return list(by_id.values())


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)  # what orjson does not read back: an integer past 64 bits


def as_record(data: Any) -> UsageRecord:
    """A journal line's record (fields this version does not know are left out; those it lacks take defaults)."""
    from oneflow_ai.store.ledger import UsageRecord

    if isinstance(data, list) and data and data[0] == RECORD:  # (another release's: extra values ignored)
        data = dict(zip(RECORD_FIELDS, data[1:], strict=False))
    elif isinstance(data, list) and data and data[0] == INTENT:  # (another release's intent: extra values ignored)
        data = {**dict(zip(INTENT_FIELDS, data[1:], strict=False)), **INTERRUPTED_VALUES}
    if not isinstance(data, dict):
        raise TypeError("not a record")
    known = {f.name for f in fields(UsageRecord)}
    values = {k: v for k, v in data.items() if k in known}
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    for name in _DECIMALS:
        if name in values:
            values[name] = Decimal(values[name])
    return UsageRecord(**values)
