"""AWS event-stream: the fakes' encoder checked by botocore's own decoder, and our decoder (botocore's
`EventStreamBuffer` underneath) at every split offset, with its frame checks (CRCs, a stream cut inside a message)
as the upstream's errors."""

from __future__ import annotations

import itertools

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.errors import UpstreamError
from oneflow_ai.upstream.decoders import StreamEvent
from oneflow_ai.upstream.event_stream import EventStreamDecoder
from tests.fakes import event_stream

names = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
values = st.text(max_size=40)


@given(st.lists(st.tuples(st.dictionaries(names, values, max_size=4), st.binary(max_size=300)), max_size=4))
def test_the_encoder_makes_what_botocore_decodes(messages: list[tuple[dict[str, str], bytes]]) -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(b"".join(event_stream.message(headers, payload) for headers, payload in messages))
    assert [(m.headers, m.payload) for m in buffer] == messages


STREAM = [
    (event_stream.event("messageStart", {"role": "assistant"}), "messageStart"),
    (event_stream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi ✓"}}), "contentBlockDelta"),
    (event_stream.exception("throttlingException", "Too many requests"), "exception:throttlingException"),
    (
        event_stream.message(
            {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b""
        ),
        "error:InternalFailure",
    ),
]


def decode(chunks: list[bytes]) -> list[StreamEvent]:
    decoder = EventStreamDecoder("bedrock")
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.flush()


def test_events_exceptions_and_errors_are_named_and_split_anywhere() -> None:
    raw = b"".join(message for message, _ in STREAM)
    whole = decode([raw])
    assert [e.event for e in whole] == [name for _, name in STREAM]
    assert whole[0].data.startswith(b'{"role":"assistant"')
    assert whole[2].data == b'{"message":"Too many requests"}' and whole[3].data == b"boom"
    for cut in range(len(raw) + 1):
        assert decode([raw[:cut], raw[cut:]]) == whole, cut
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == whole  # a byte at a time


@given(st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_any_three_way_split(cuts: list[int]) -> None:
    raw = b"".join(message for message, _ in STREAM)
    points = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    chunks = [raw[a:b] for a, b in itertools.pairwise(points)]
    assert decode(chunks) == decode([raw])


@pytest.mark.parametrize("where", [2, 9, 20, -10, -2])
def test_a_corrupted_byte_fails_a_crc(where: int) -> None:
    raw = bytearray(STREAM[1][0])
    raw[where] ^= 0x01
    with pytest.raises(UpstreamError, match="malformed event-stream message"):
        decode([bytes(raw)])


def test_a_stream_cut_inside_a_message_is_an_error() -> None:
    raw = STREAM[0][0] + STREAM[1][0][:-5]
    decoder = EventStreamDecoder("bedrock")
    assert [e.event for e in decoder.feed(raw)] == ["messageStart"]
    with pytest.raises(UpstreamError, match="5 bytes left"):
        decoder.flush()
