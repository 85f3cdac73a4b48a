"""Dead letters: usage records the database refused, set aside (table `ledger_dead_letters`) so that one bad
record cannot stop the ledger.

`refused(error)` tells a refusal of the data from a failure to answer. A refusal (PostgreSQL's SQLSTATE class
22, data exception, or 23, integrity violation: a value too long, a NUL character, a number out of range; on
SQLite an integrity or binding error; a value our own encoder cannot encode) fails again with the same
records, so the ledger splits the batch until the refused record is alone, sets that one aside and writes the
others. Anything else (the connection lost, the database down, locked or out of disk) may pass later: the
records are kept and tried again, none set aside.

A dead letter holds the record as ASCII JSON (`as_json`: NUL and lone surrogates escaped, so any database
stores it) and the database's message, never the statement or the rest of the batch.

SQLite's errors are told by `sqlite3`'s classes when the process has loaded `sqlite3` (only a process that has can
meet one): a gateway on PostgreSQL never loads it (the module and its library: ~1 MiB of every worker).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, StatementError

if TYPE_CHECKING:
    from types import ModuleType

    from oneflow_ai.store.ledger import UsageRecord

REFUSED_SQLSTATES = ("22", "23")
"""SQLSTATE classes that refuse the data: data exception, integrity constraint violation."""
SQLITE_REFUSALS = ("IntegrityError", "DataError", "InterfaceError", "ProgrammingError")
"""`sqlite3`'s errors that refuse the data."""
ENCODING_ERRORS = (TypeError, ValueError, OverflowError)
"""Raised before anything reaches the database, by a value that cannot be encoded (orjson's `JSONEncodeError`
is a `TypeError`, a lone surrogate's `UnicodeEncodeError` a `ValueError`, an int past 64 bits on SQLite an
`OverflowError`)."""
MAX_ERROR = 500

INSERT = "INSERT INTO ledger_dead_letters (request_id, created_at, error, record) VALUES (?, ?, ?, ?)"


def refused(error: BaseException) -> bool:
    """Whether the database (or the encoding on the way to it) refused the records' data, so the same records
    would fail again; otherwise the failure is the database's, and the same records may pass later. A sign of
    an unavailable database anywhere in the chain wins: records are never set aside while it cannot answer."""
    chain = _chain(error)
    if any(_unavailable(e) for e in chain):
        return False
    return any(_refusal(e) for e in chain)


def _unavailable(e: BaseException) -> bool:
    if isinstance(e, DBAPIError) and e.connection_invalidated:
        return True
    if isinstance(e, OSError):  # connections, timeouts, the disk
        return True
    sqlite = _sqlite3()
    return sqlite is not None and isinstance(e, sqlite.OperationalError)


def _refusal(e: BaseException) -> bool:
    state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
    if isinstance(state, str):
        return state[:2] in REFUSED_SQLSTATES
    sqlite = _sqlite3()
    if sqlite is None:
        return isinstance(e, ENCODING_ERRORS) and not isinstance(e, DBAPIError)
    if isinstance(e, tuple(getattr(sqlite, name) for name in SQLITE_REFUSALS)):
        return True
    return isinstance(e, ENCODING_ERRORS) and not isinstance(e, (DBAPIError, sqlite.Error))


def _sqlite3() -> ModuleType | None:
    """`sqlite3` if this process has loaded it; otherwise no error can be one of its."""
    return sys.modules.get("sqlite3")


def describe(error: BaseException) -> str:
    """The database's own message (not SQLAlchemy's, which quotes the statement and the batch), printable."""
    inner = error.orig if isinstance(error, StatementError) and error.orig is not None else error
    text = f"{type(inner).__name__}: {inner}"[:MAX_ERROR]
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def as_json(record: UsageRecord) -> str:
    """The record as JSON text in ASCII: money as decimal strings, times in ISO 8601, every odd character
    escaped (`\\u0000`, lone surrogates), so it is stored whatever the record holds."""
    return json.dumps(asdict(record), default=_plain, ensure_ascii=True, separators=(",", ":"))


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _chain(error: BaseException) -> list[BaseException]:
    """The error, what SQLAlchemy wrapped (`orig`) and what each was raised from (`__cause__`), each once."""
    seen: list[BaseException] = []
    todo: list[Any] = [error]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend([e.__cause__, getattr(e, "orig", None)])
    return seen
