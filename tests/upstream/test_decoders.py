"""Issue 15 #2: the stream decoders, fed the same bytes split at every offset (and at random, with Hypothesis), give
the same typed events; each chat provider names its decoder."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations, pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.config.schema import Deployment
from oneflow_ai.providers.base import ChatProvider
from oneflow_ai.providers.registry import providers
from oneflow_ai.upstream.decoders import JSONLinesDecoder, StreamDecoder, StreamEvent
from oneflow_ai.upstream.sse import SSEParser

LINES = (
    b'{"a": 1}\n'
    b"\n"  # a blank line: no event
    b'{"b": "x\\ny"}\r\n'  # CRLF, and an escaped LF inside the JSON
    b"   \r\n"  # blank but for spaces: no event
    b'{"done": true}'  # the last line, without its line end: `flush` gives it
)
EXPECTED = [StreamEvent(None, b'{"a": 1}'), StreamEvent(None, b'{"b": "x\\ny"}'), StreamEvent(None, b'{"done": true}')]

SSE = b'event: message_start\r\ndata: {"a": 1}\r\n\r\ndata: [DONE]\n\n'
SSE_EXPECTED = [StreamEvent("message_start", b'{"a": 1}'), StreamEvent(None, b"[DONE]")]


def decoded(decoder: StreamDecoder, reads: Iterable[bytes]) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for read in reads:
        events += decoder.feed(read)
    return events + decoder.flush()


def splits(data: bytes, offsets: Iterable[int]) -> list[bytes]:
    bounds = [0, *offsets, len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def test_json_lines_whole() -> None:
    assert decoded(JSONLinesDecoder(), [LINES]) == EXPECTED


def test_json_lines_one_byte_at_a_time() -> None:
    assert decoded(JSONLinesDecoder(), [LINES[i : i + 1] for i in range(len(LINES))]) == EXPECTED


@pytest.mark.parametrize("make", [JSONLinesDecoder, SSEParser], ids=["json-lines", "sse"])
def test_every_split_into_two_and_three_reads(make: type[JSONLinesDecoder] | type[SSEParser]) -> None:
    data, expected = (LINES, EXPECTED) if make is JSONLinesDecoder else (SSE, SSE_EXPECTED)
    for count in (1, 2):
        for offsets in combinations(range(len(data) + 1), count):
            assert decoded(make(), splits(data, offsets)) == expected, offsets


@given(st.lists(st.integers(min_value=0, max_value=len(LINES)), max_size=12))
def test_json_lines_any_split(offsets: list[int]) -> None:
    assert decoded(JSONLinesDecoder(), splits(LINES, sorted(offsets))) == EXPECTED


@given(
    st.lists(st.binary(max_size=20).filter(lambda b: b"\n" not in b and b"\r" not in b), max_size=6),
    st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_json_lines_any_lines_any_split(lines: list[bytes], offsets: list[int]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    expected = [StreamEvent(None, line) for line in lines if line.strip()]
    assert decoded(JSONLinesDecoder(), splits(data, sorted(min(o, len(data)) for o in offsets))) == expected


def test_flush_empties_the_decoder() -> None:
    decoder = JSONLinesDecoder()
    assert decoder.feed(b'{"a"') == []
    assert decoder.flush() == [StreamEvent(None, b'{"a"')]
    assert decoder.flush() == []


def test_every_chat_provider_names_a_decoder() -> None:
    """Each chat provider gives a new decoder per stream; those that stream SSE decode it as SSE (Bedrock's is AWS
    event-stream, tested in tests/upstream/test_event_stream.py)."""
    from oneflow_ai.upstream.event_stream import EventStreamDecoder

    deployment = Deployment(provider="bedrock", model="m", region="us-east-1")
    chat = {wire: p for wire, p in providers().items() if isinstance(p, ChatProvider)}
    assert {"openai", "anthropic", "bedrock"} <= set(chat)
    for wire, provider in chat.items():
        first = provider.stream_decoder(deployment)
        assert provider.stream_decoder(deployment) is not first, wire  # a new one per stream
        if isinstance(first, EventStreamDecoder):
            continue
        assert decoded(first, [SSE]) == SSE_EXPECTED, wire
