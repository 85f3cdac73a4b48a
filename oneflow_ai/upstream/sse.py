"""Incremental Server-Sent Events parsing: bytes in as they arrive, whole events out; and the frame we write.

The parser follows the SSE specification (https://html.spec.whatwg.org/multipage/server-sent-events.html):
a line ends with CRLF, LF or CR, and a CR that ends one read is the same line end as an LF that starts the next;
a blank line ends an event; its `data:` lines join with LF; `event:` names it; comments (`:`), `id:`, `retry:`
and unknown fields are skipped; a block without a `data:` line is no event. One leniency: an event the stream
left without its final blank line is still returned by `flush()`. Other wire formats' decoders: `upstream.decoders`.
"""

from __future__ import annotations

from oneflow_ai.upstream.decoders import StreamEvent

CR, LF, COLON = 0x0D, 0x0A, 0x3A

SSEEvent = StreamEvent
"""An SSE event (its `event:` name and its `data:`) is the stream event every decoder yields."""


class SSEParser:
    """Feed raw bytes; get the events completed so far. The decoder (`upstream.decoders.StreamDecoder`) of SSE."""

    __slots__ = ("_buffer", "_cr")

    def __init__(self) -> None:
        self._buffer = b""
        """The unfinished event so far, its line ends already made LF."""
        self._cr = False
        """The last read ended with CR: an LF starting the next read ends the same line."""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._cr and chunk:
            self._cr = False
            if chunk[0] == LF:
                chunk = chunk[1:]
        if CR in chunk:  # (an int: `in` is then a memchr, several times faster than with b"\r")
            self._cr = chunk[-1] == CR
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer + chunk if self._buffer else chunk
        *blocks, self._buffer = buffer.split(b"\n\n")
        events = []
        for block in blocks:
            event = parse_block(block)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream ended without a final blank line."""
        block, self._buffer = self._buffer, b""
        self._cr = False
        event = parse_block(block.strip(b"\n"))
        return [event] if event is not None else []


def parse_block(block: bytes) -> SSEEvent | None:
    """One event's lines (LF-separated, no blank line among them) -> the event, or None if it has no data."""
    if block.startswith(b"data: ") and LF not in block:
        return SSEEvent(None, block[6:])  # the common case: one data line
    name: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[0] == COLON:  # blank (a leading LF), or a comment
            continue
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data:
        return None
    return SSEEvent(name, data[0] if len(data) == 1 else b"\n".join(data))


def frame(data: bytes) -> bytes:
    """One SSE event carrying `data`: one `data:` line per line of it (an upstream event's data may span lines)."""
    if LF in data:
        data = data.replace(b"\n", b"\ndata: ")
    return b"data: " + data + b"\n\n"


DONE = frame(b"[DONE]")
