"""The SSE parser against the specification's line ends (CRLF, LF, CR), fields and comments, fed the same
bytes in every possible split; and the frame the relay writes."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.upstream.sse import SSEEvent, SSEParser, frame

STREAM = (
    b": keep-alive comment\n\n"
    b'event: message_start\ndata: {"a": 1}\n\n'
    b"data: line one\ndata: line two\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [SSEEvent("message_start", b'{"a": 1}'), SSEEvent(None, b"line one\nline two"), SSEEvent(None, b"[DONE]")]

MIXED = (
    b": a comment\r\nretry: 1000\r\n\r\n"  # no data line: no event
    b'event: message_start\rid: 7\rdata: {"a": 1}\r\r'
    b'data: {"b":\r\ndata: 2}\r\n\r\n'
    b"data:no space\n\n"
    b"data\n\n"
    b"event: ping\n\n"  # a name but no data: no event
    b"data: [DONE]\r\n\r\n"
)
MIXED_EXPECTED = [
    SSEEvent("message_start", b'{"a": 1}'),
    SSEEvent(None, b'{"b":\n2}'),
    SSEEvent(None, b"no space"),
    SSEEvent(None, b""),
    SSEEvent(None, b"[DONE]"),
]


def events_of(reads: Iterable[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for read in reads:
        events += parser.feed(read)
    return events + parser.flush()


def test_whole_stream() -> None:
    assert SSEParser().feed(STREAM) == EXPECTED


def test_crlf_framing() -> None:
    assert SSEParser().feed(STREAM.replace(b"\n", b"\r\n")) == EXPECTED


def test_cr_framing() -> None:
    assert SSEParser().feed(STREAM.replace(b"\n", b"\r")) == EXPECTED


def test_a_crlf_split_between_two_reads_is_one_line_end() -> None:
    assert events_of([b"data: one\r", b"\ndata: two\r\n\r", b"\n"]) == [SSEEvent(None, b"one\ntwo")]


def test_fields_comments_and_blocks_without_data() -> None:
    assert events_of([MIXED]) == MIXED_EXPECTED


def test_every_split_point_gives_the_same_events() -> None:
    for stream, expected in ((STREAM, EXPECTED), (STREAM.replace(b"\n", b"\r\n"), EXPECTED), (MIXED, MIXED_EXPECTED)):
        for cut in range(len(stream) + 1):
            assert events_of([stream[:cut], stream[cut:]]) == expected, (stream, cut)
        assert events_of(stream[i : i + 1] for i in range(len(stream))) == expected  # a byte per read


def test_event_without_final_blank_line_is_flushed() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: tail") == []
    assert parser.flush() == [SSEEvent(None, b"tail")]


@given(st.sampled_from([b"\n", b"\r\n", b"\r"]), st.lists(st.integers(min_value=0, max_value=300), max_size=16))
def test_any_chunking_with_any_line_end_gives_the_same_events(line_end: bytes, cuts: list[int]) -> None:
    stream = STREAM.replace(b"\n", line_end) + MIXED
    bounds = [0, *sorted(c for c in cuts if c <= len(stream)), len(stream)]
    assert events_of(stream[a:b] for a, b in pairwise(bounds)) == EXPECTED + MIXED_EXPECTED


def test_a_frame_with_a_multi_line_payload_is_one_data_line_per_line() -> None:
    written = frame(b'{"b":\n2}')
    assert written == b'data: {"b":\ndata: 2}\n\n'
    assert events_of([written]) == [SSEEvent(None, b'{"b":\n2}')]
    assert frame(b'{"a":1}') == b'data: {"a":1}\n\n'
