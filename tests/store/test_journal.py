"""The ledger's journal (`store.journal`): records and intents written, sealed and deleted once committed, replayed
from a dead process's files (a torn last line skipped), never by two live processes at once; the `Ledger` with a
journal on SQLite: committed batches leave no files, a failed one keeps them, a dead process's records land once."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from oneflow_ai.store.db import create_engine, migrate
from oneflow_ai.store.dead_letters import as_json
from oneflow_ai.store.journal import INTENT, INTERRUPTED, RECORD, RECORD_FIELDS, Journal, line, replayed
from oneflow_ai.store.ledger import Ledger, UsageRecord


def rec(request_id: str, status: str = "ok", cost: str = "0.001234567") -> UsageRecord:
    return UsageRecord(
        request_id=request_id,
        created_at=datetime(2026, 12, 2, 7, 30, 1, 123456, tzinfo=UTC),
        endpoint="chat",
        requested_model="mini",
        status=status,
        http_status=200 if status == "ok" else 502,
        cost_usd=Decimal(cost),
        credits=Decimal("0.1234567"),
        usage_source="upstream",
        key_id="key_1",
        tenant_id="acme",
        deployment_id="dep-1",
        input_tokens=11,
        output_tokens=7,
        latency_ms=12.5,
    )


def intent(request_id: str) -> tuple[object, ...]:
    """What `gateway.accounting.intend` journals before an upstream attempt (`journal.INTENT_FIELDS`)."""
    created = datetime(2026, 12, 2, 7, 30, 1, 123456, tzinfo=UTC)
    return (
        INTENT,
        request_id,
        created,
        "chat",
        "mini",
        "key_1",
        None,
        "tag",
        None,
        "acme",
        "gpt-4o-mini",
        "openai",
        "dep-1",
        2,
        True,
        "exp-1",
        "b",
    )


def dead(directory: Path) -> Journal:
    """A journal whose process died: its files stay, its lock is released (as the kernel does for a killed one)."""
    journal = Journal(directory)
    journal.open()
    return journal


def files(directory: Path) -> list[str]:
    return sorted(p.name.split(".", 1)[1] for p in directory.iterdir())


def test_a_dead_process_records_are_replayed_exactly_then_its_files_deleted(tmp_path: Path) -> None:
    gone = dead(tmp_path)
    gone.record(rec("a"))
    gone.intend(intent("b"))
    gone.record(rec("b"))  # its record replaces its intent
    gone.intend(intent("c"))  # killed between the upstream's answer and the record
    gone.seal()  # the intent of c, still in flight, is carried into the new segment
    gone.committed()  # the batch holding a and b was written
    gone.record(rec("d", cost="12.5"))
    gone.close(written=False)

    survivor = Journal(tmp_path)
    survivor.open()
    taken: list[UsageRecord] = []
    assert survivor.take_over(taken.append) == 2
    assert sorted((r.request_id, r.status) for r in taken) == [("c", INTERRUPTED), ("d", "ok")]
    assert next(r for r in taken if r.request_id == "d") == rec("d", cost="12.5")  # every field, money exact
    interrupted = next(r for r in taken if r.request_id == "c")
    assert (interrupted.http_status, interrupted.cost_usd, interrupted.credits, interrupted.usage_source) == (
        502,
        Decimal(0),
        Decimal(0),
        "none",
    )
    assert (interrupted.key_id, interrupted.tenant_id, interrupted.deployment_id, interrupted.attempts) == (
        "key_1",
        "acme",
        "dep-1",
        2,
    )
    assert (interrupted.streamed, interrupted.experiment, interrupted.input_tokens) == (True, "exp-1", 0)
    assert interrupted.created_at == datetime(2026, 12, 2, 7, 30, 1, 123456, tzinfo=UTC)
    assert files(tmp_path) == ["00000001.jsonl", "lock"]  # only the survivor's own
    assert survivor.take_over(taken.append) == 0  # taken over once


def test_a_torn_last_line_is_skipped_and_the_lines_before_it_kept(tmp_path: Path) -> None:
    gone = dead(tmp_path)
    gone.record(rec("a"))
    gone.record(rec("b"))
    gone.close(written=False)
    segment = next(tmp_path.glob("*.jsonl"))
    with segment.open("ab") as f:
        f.write(line(rec("c"))[:40])  # the write a full disk cut short

    assert [r.request_id for r in replayed([segment])] == ["a", "b"]
    survivor = Journal(tmp_path)
    survivor.open()
    assert survivor.take_over(lambda r: None) == 2


def test_a_live_process_journal_is_never_taken_over(tmp_path: Path) -> None:
    alive = Journal(tmp_path)
    alive.open()
    alive.record(rec("a"))
    other = Journal(tmp_path)
    other.open()
    assert other.take_over(lambda r: None) == 0
    assert len(list(tmp_path.glob("*.jsonl"))) == 2


def test_two_processes_taking_over_at_once_replay_a_journal_once(tmp_path: Path) -> None:
    gone = dead(tmp_path)
    gone.record(rec("a"))
    gone.record(rec("b"))
    gone.close(written=False)
    first, second = Journal(tmp_path), Journal(tmp_path)
    first.open()
    second.open()
    by_second: list[UsageRecord] = []

    def meanwhile(r: UsageRecord) -> None:  # `second` tries while `first` holds the dead one's lock
        second.take_over(by_second.append)

    assert first.take_over(meanwhile) == 2
    assert by_second == []
    assert second.take_over(by_second.append) == 0


def test_a_clean_close_leaves_no_files_and_an_unwritten_one_keeps_them(tmp_path: Path) -> None:
    clean = Journal(tmp_path / "clean")
    clean.open()
    clean.record(rec("a"))
    clean.seal()
    clean.close(written=True)
    assert list((tmp_path / "clean").iterdir()) == []

    kept = Journal(tmp_path / "kept")
    kept.open()
    kept.record(rec("a"))
    kept.close(written=False)
    assert files(tmp_path / "kept") == ["00000001.jsonl", "lock"]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    await migrate(engine)
    yield engine  # type: ignore[misc]
    await engine.dispose()


def rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT request_id, status FROM usage_records"))


def requests_counted(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COALESCE(SUM(requests), 0) FROM usage_daily").fetchone()[0])


async def test_the_ledger_deletes_what_it_wrote_and_replays_a_dead_process_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    ledger = Ledger(engine, interval_s=3600, journal=Journal(directory))
    ledger.start()
    ledger.record(rec("a"))
    assert await ledger.flush() == 1
    assert [p.name.split(".")[1] for p in directory.glob("*.jsonl")] == ["00000002"]  # the written one deleted

    gone = dead(directory)  # a process that died with a (committed) and b, c (not) in its journal
    gone.record(rec("a"))
    gone.record(rec("b"))
    gone.intend(intent("c"))
    gone.close(written=False)
    survivor = Ledger(engine, interval_s=3600, journal=Journal(directory))
    survivor.start()
    assert survivor.depth == 3
    await survivor.flush()
    assert rows(tmp_path / "ledger.db") == [("a", "ok"), ("b", "ok"), ("c", INTERRUPTED)]
    assert requests_counted(tmp_path / "ledger.db") == 3  # a, written twice, counted once
    await survivor.close()
    await ledger.close()
    assert list(directory.iterdir()) == []


async def test_a_failed_batch_keeps_its_segment_until_a_later_batch_writes_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    ledger = Ledger(engine, interval_s=3600, journal=Journal(directory))
    ledger.start()
    ledger.record(rec("a"))
    broken = replace(rec("b"), input_tokens=2**70)  # raises in the encoder: set aside, not a failure
    ledger.record(broken)
    await ledger.flush()
    original = ledger._writer.write

    async def down(records: object) -> None:
        raise OSError("database down")

    ledger._writer.write = down  # type: ignore[method-assign]
    ledger.record(rec("c"))
    with pytest.raises(OSError):
        await ledger.flush()
    segments = sorted(p.name.split(".")[1] for p in directory.glob("*.jsonl"))
    assert segments == ["00000002", "00000003"]  # c's segment kept, sealed
    assert any(b'"c"' in p.read_bytes() for p in directory.glob("*.jsonl"))
    ledger._writer.write = original  # type: ignore[method-assign]
    await ledger.flush()
    assert sorted(p.name.split(".")[1] for p in directory.glob("*.jsonl")) == ["00000004"]
    await ledger.close()
    assert rows(tmp_path / "ledger.db") == [("a", "ok"), ("c", "ok")]
    assert ledger.dead_lettered == 1
    assert not os.listdir(directory)


def test_settings_default_the_journal_on_under_the_data_dir(tmp_path: Path) -> None:
    from oneflow_ai.settings import Settings

    on = Settings.from_env({"ONEFLOW_DATA_DIR": str(tmp_path)})
    assert on.ledger_journal and on.journal_dir == tmp_path / "ledger-journal" and not on.ledger_journal_sync
    off = Settings.from_env({"ONEFLOW_LEDGER_JOURNAL": "off", "ONEFLOW_LEDGER_JOURNAL_DIR": "/j"})
    assert not off.ledger_journal and off.journal_dir == Path("/j")


def test_a_record_is_never_replaced_by_an_intent_whatever_their_order(tmp_path: Path) -> None:
    segment = tmp_path / "1-1.00000001.jsonl"
    intents = orjson.dumps(intent("a")) + b"\n" + orjson.dumps(intent("b")) + b"\n"
    segment.write_bytes(line(rec("a")) + intents + line(rec("c", INTERRUPTED)))
    assert [(r.request_id, r.status) for r in replayed([segment])] == [
        ("a", "ok"),
        ("b", INTERRUPTED),
        ("c", INTERRUPTED),
    ]


def test_a_record_line_is_a_compact_array_and_a_record_as_an_object_is_read_too(tmp_path: Path) -> None:
    """Records are journaled as arrays (`RECORD`, then `RECORD_FIELDS`' values); a journal written as objects
    keyed by field name (the release before, or a record orjson refused, written as the dead letters write it)
    replays the same, and an array with values past the fields this release knows (a newer one's) too."""
    a, b, c = rec("a", cost="0.000000000001"), replace(rec("b"), experiment="exp-1", variant="b"), rec("c")
    assert orjson.loads(line(a))[:2] == [RECORD, "a"] and len(orjson.loads(line(a))) == len(RECORD_FIELDS) + 1
    newer = orjson.dumps([*orjson.loads(line(c)), "a value of a newer field"]) + b"\n"
    segment = tmp_path / "1-1.00000001.jsonl"
    segment.write_bytes(line(a) + orjson.dumps(b, default=str) + b"\n" + as_json(b).encode() + b"\n" + newer)
    assert replayed([segment]) == [a, b, c]  # every field, money exact
