"""A stream's wire format, decoded: bytes in as the upstream sends them, typed events out.

Each wire format has a small incremental decoder (`StreamDecoder`): `feed(data)` takes whatever one read carried
(an event may be split anywhere, even inside a line end) and returns the events it completed; `flush()` returns
what the stream left unfinished when it ended. Every decoder yields the same `StreamEvent` (an optional name and
its data, as bytes), so that a provider's `StreamTranslator` does not care how its upstream frames them. A chat
provider names its decoder (`ChatProvider.stream_decoder`); the relay asks it once per stream.

- Server-Sent Events (OpenAI, Anthropic and most others): `upstream.sse.SSEParser`.
- Newline-delimited JSON (Ollama's native API, some self-hosted servers): `JSONLinesDecoder`, one event per line.
- AWS event-stream (Bedrock's `ConverseStream`): `upstream.event_stream.EventStreamDecoder`, its binary messages
  (a prelude with the total and headers lengths and its CRC, the headers, the payload, the message CRC) checked by
  botocore's `EventStreamBuffer`, giving `StreamEvent(":event-type" header, payload)`; the relay needed no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

LF, CR = 0x0A, 0x0D


@dataclass(slots=True)
class StreamEvent:
    """One event of an upstream stream: its name, when the wire format names events (SSE's `event:`), and its data
    as it came (a JSON document, most often; the translator parses it, if it needs to)."""

    event: str | None
    data: bytes


class StreamDecoder(Protocol):
    def feed(self, data: bytes) -> list[StreamEvent]:
        """The events `data` completed (none, when it only started one)."""
        ...

    def flush(self) -> list[StreamEvent]:
        """The events the stream left unfinished when it ended (a last line without its line end, say)."""
        ...


class JSONLinesDecoder:
    """Newline-delimited JSON: each non-blank line (ended by LF or CRLF) is an event whose data is the line; the
    decoder does not parse it (the translator does, once)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""
        """The unfinished line so far."""

    def feed(self, data: bytes) -> list[StreamEvent]:
        if LF not in data:
            self._buffer += data
            return []
        buffer = self._buffer + data if self._buffer else data
        *lines, self._buffer = buffer.split(b"\n")
        return [event for line in lines if (event := _line(line)) is not None]

    def flush(self) -> list[StreamEvent]:
        line, self._buffer = self._buffer, b""
        event = _line(line)
        return [] if event is None else [event]


def _line(line: bytes) -> StreamEvent | None:
    if line and line[-1] == CR:
        line = line[:-1]
    return StreamEvent(None, line) if line.strip() else None
