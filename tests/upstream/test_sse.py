from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.upstream.sse import SSEEvent, SSEParser

STREAM = (
    b": keep-alive comment\n\n"
    b'event: message_start\ndata: {"a": 1}\n\n'
    b"data: line one\ndata: line two\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [SSEEvent("message_start", b'{"a": 1}'), SSEEvent(None, b"line one\nline two"), SSEEvent(None, b"[DONE]")]


def test_whole_stream() -> None:
    assert SSEParser().feed(STREAM) == EXPECTED


def test_crlf_framing() -> None:
    assert SSEParser().feed(STREAM.replace(b"\n", b"\r\n")) == EXPECTED


def test_event_without_final_blank_line_is_flushed() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: tail") == []
    assert parser.flush() == [SSEEvent(None, b"tail")]


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    parser = SSEParser()
    events: list[SSEEvent] = []
    start = 0
    for cut in sorted(set(cuts)):
        events += parser.feed(STREAM[start:cut])
        start = cut
    events += parser.feed(STREAM[start:])
    assert events == EXPECTED
