"""Incremental Server-Sent Events parsing: bytes in as they arrive, whole events out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: bytes


class SSEParser:
    """Feed raw bytes; get the events completed so far. Handles CRLF, multi-line data and comments."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
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
        event = parse_block(block.strip(b"\n"))
        return [event] if event is not None else []


def parse_block(block: bytes) -> SSEEvent | None:
    name: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode()
    if not data and name is None:
        return None
    return SSEEvent(name, b"\n".join(data))


def frame(data: bytes) -> bytes:
    """One OpenAI-style SSE frame."""
    return b"data: " + data + b"\n\n"


DONE = frame(b"[DONE]")
