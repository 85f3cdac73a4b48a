"""An AWS event-stream encoder, for fake upstreams: each message is the prelude (total length, headers length, both
big-endian uint32, then the CRC32 of those 8 bytes), the headers (name length as a byte, the name, the value type
7 = string, the value length as a big-endian uint16, the value), the payload, and the CRC32 of all that came before.
`tests/upstream/test_event_stream.py` checks what it makes with botocore's own decoder."""

from __future__ import annotations

import binascii
import struct
from typing import Any

import orjson

STRING = 7


def message(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack(">I", binascii.crc32(body))


def event(name: str, data: dict[str, Any]) -> bytes:
    """An event as Bedrock sends it: its JSON payload padded with `p` (Bedrock pads events to hide their length)."""
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return message(headers, orjson.dumps({**data, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"[: 4 + len(name)]}))


def exception(kind: str, text: str) -> bytes:
    """An exception message (`throttlingException`...), its payload the service's error JSON."""
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return message(headers, orjson.dumps({"message": text}))


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", STRING, len(raw_value)) + raw_value
