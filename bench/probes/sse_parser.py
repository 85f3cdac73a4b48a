"""Micro-benchmark of the SSE parser on the relay's hot path: `python -m bench.probes.sse_parser`.

Three shapes of upstream read: one OpenAI chunk per read with LF line ends (the common case), eight chunks
in one read, and one chunk per read with CRLF line ends. Prints the best of five runs, in µs per read.
"""

from __future__ import annotations

import timeit

from oneflow_ai.upstream.sse import SSEParser

CHUNK = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"hello"},"finish_reason":null}]}\n\n'
)
SHAPES = {
    "one event per read, LF": [CHUNK] * 64,
    "eight events per read, LF": [CHUNK * 8] * 8,
    "one event per read, CRLF": [CHUNK.replace(b"\n", b"\r\n")] * 64,
}


def per_read_us(reads: list[bytes], number: int = 2000) -> float:
    def run() -> None:
        parser = SSEParser()
        for read in reads:
            parser.feed(read)

    best = min(timeit.repeat(run, number=number, repeat=5))
    return best / number / len(reads) * 1e6


def main() -> None:
    for name, reads in SHAPES.items():
        print(f"{name:28} {per_read_us(reads):6.3f} µs per read")


if __name__ == "__main__":
    main()
