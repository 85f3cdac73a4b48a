"""Logging set-up: JSON lines (default) or plain text, at the configured level, written behind.

The gateway logs a line per request, so writing costs: a handler that flushes after every record makes a
`write` system call per request. `BufferedHandler` gathers lines and writes them in one call when a
WARNING or worse arrives, when `max_buffered` lines have gathered, or every `interval_s` (a daemon thread),
and at shutdown (`flush_logs`, at the end of the app's lifespan). A crash may lose the last `interval_s`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TextIO

import orjson

FIELDS = "oneflow_fields"
"""A record may carry its extra fields as one dict under this attribute (the request log does): cheaper to build
and to format than one attribute each."""
BARE = len(logging.makeLogRecord({}).__dict__)
STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", FIELDS}


class JSONFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__.get(FIELDS)
        line = self.line(record.created, record.levelname, record.name, record.getMessage(), fields)
        if fields is None or len(record.__dict__) > BARE + 1:  # there may be other extras (`extra=`)
            line.update({k: v for k, v in record.__dict__.items() if k not in STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()

    def line(
        self, created: float, level: str, logger: str, message: str, fields: dict[str, object] | None
    ) -> dict[str, object]:
        line: dict[str, object] = {"time": self._time(created), "level": level, "logger": logger, "message": message}
        if fields is not None:
            line.update(fields)
        return line

    def _time(self, created: float) -> str:
        """ISO 8601 in UTC to the millisecond; the part up to the second is formatted once per second."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"


class BufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO, *, interval_s: float = 0.2, max_buffered: int = 512) -> None:
        super().__init__(stream)
        self.interval_s = interval_s
        self.max_buffered = max_buffered
        self._lines: list[str] = []
        self._stopping = threading.Event()
        self._flusher = threading.Thread(target=self._flush_every, name="oneflow-log-flush", daemon=True)
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:  # called with the handler's lock held
        try:
            self._lines.append(self.format(record) + "\n")
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING or len(self._lines) >= self.max_buffered:
            self._write()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def emit_info(self, logger: str, message: str, fields: dict[str, object]) -> None:
        """An INFO line without a `LogRecord` (see `direct_handler`): what `emit` would buffer for it."""
        formatter = self.formatter
        assert isinstance(formatter, JSONFormatter)
        text = orjson.dumps(formatter.line(time.time(), "INFO", logger, message, fields), default=str).decode()
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(text + "\n")
            if len(self._lines) >= self.max_buffered:
                self._write()

    def _write(self) -> None:
        if not self._lines:
            return
        text, self._lines = "".join(self._lines), []
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # a closed or broken stream: logging must never take the gateway down
            pass

    def _flush_every(self) -> None:
        while not self._stopping.wait(self.interval_s):
            self.flush()

    def close(self) -> None:
        self._stopping.set()
        self.flush()
        super().close()


def direct_handler(logger: logging.Logger) -> BufferedHandler | None:
    """The handler an INFO line of `logger` reaches, when that is all logging would do with it: one
    `BufferedHandler` formatting JSON, on `logger` or the ancestors it propagates to, no filters on the way, no
    handler elsewhere. A line per request then skips building and handling a `LogRecord` (`emit_info`); any
    other set-up (a test's handler, a filter, text format) takes the standard way."""
    found: BufferedHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None or type(handler) is not BufferedHandler or handler.filters:
                return None
            if handler.level > logging.INFO or type(handler.formatter) is not JSONFormatter:
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


def configure_logging(level: str, fmt: str) -> None:
    handler = BufferedHandler(sys.stderr)
    handler.setFormatter(
        JSONFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    # The request lines do not show threads or processes: do not look them up for every record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger("oneflow")
    for old in root.handlers:
        old.close()
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def flush_logs() -> None:
    """Write what the gateway's handlers hold now (at shutdown)."""
    for handler in logging.getLogger("oneflow").handlers:
        handler.flush()
