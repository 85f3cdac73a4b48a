"""AWS event-stream, decoded: the binary framing of Bedrock's streams (`ConverseStream`), as a `StreamDecoder`.

Each message is a prelude (total length, headers length, the prelude's CRC32), typed headers, a payload and the
message's CRC32. The framing and both CRCs are checked by botocore's own `EventStreamBuffer` (the `bedrock` extra,
imported when a decoder is made, so the base install never loads it); this module only names what it decodes:

- an event (`:message-type` `event`) is `StreamEvent(<:event-type>, payload)`, as `StreamEvent("messageStart",
  b'{"role":"assistant"}')`;
- an exception (`:message-type` `exception`) is `StreamEvent("exception:<:exception-type>", payload)`, its payload
  the service's error JSON (`{"message": ...}`);
- an error (`:message-type` `error`) is `StreamEvent("error:<:error-code>", <:error-message>)`.

A frame that fails its checks (a CRC, a length) and a stream that ends inside a message are the upstream's
error (`UpstreamError`), raised where the relay turns it into the stream's error event.
"""

from __future__ import annotations

from typing import Any

from oneflow_ai.errors import UpstreamError
from oneflow_ai.upstream.decoders import StreamEvent

EXCEPTION = "exception:"
"""The prefix of an exception's event name (`exception:throttlingException`)."""
ERROR = "error:"
"""The prefix of an error's event name (`error:<:error-code>`)."""


class EventStreamDecoder:
    __slots__ = ("_buffer", "_parser_error", "_pending", "_provider")

    def __init__(self, provider: str) -> None:
        from botocore.eventstream import EventStreamBuffer, ParserError  # type: ignore[import-untyped]

        self._buffer = EventStreamBuffer()
        self._parser_error: type[Exception] = ParserError
        self._pending = 0
        """Bytes fed that no complete message has consumed yet."""
        self._provider = provider

    def feed(self, data: bytes) -> list[StreamEvent]:
        self._buffer.add_data(data)
        self._pending += len(data)
        events: list[StreamEvent] = []
        try:
            for message in self._buffer:
                self._pending -= message.prelude.total_length
                events.append(_event(message.headers, message.payload))
        except self._parser_error as e:
            raise UpstreamError(
                f"{self._provider} sent a malformed event-stream message ({type(e).__name__}: {e})",
                provider=self._provider,
            ) from None
        return events

    def flush(self) -> list[StreamEvent]:
        if self._pending:
            pending, self._pending = self._pending, 0
            raise UpstreamError(
                f"{self._provider} ended the stream inside an event-stream message ({pending} bytes left)",
                provider=self._provider,
            )
        return []

    def __repr__(self) -> str:
        return f"EventStreamDecoder({self._provider!r})"


def _event(headers: dict[str, Any], payload: bytes) -> StreamEvent:
    kind = headers.get(":message-type", "event")
    if kind == "exception":
        return StreamEvent(f"{EXCEPTION}{headers.get(':exception-type', '')}", payload)
    if kind == "error":
        message = str(headers.get(":error-message", "")).encode()
        return StreamEvent(f"{ERROR}{headers.get(':error-code', '')}", message)
    name = headers.get(":event-type")
    return StreamEvent(name if isinstance(name, str) else None, payload)
