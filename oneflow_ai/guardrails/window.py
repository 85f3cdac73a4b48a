"""The look-behind window of a streamed answer: hold back only what could still become a match, release the rest.

A detector can only judge a value once it has all of it, and a value may arrive split over several chunks (a card
number over three). `StreamWindow.push` adds a chunk's text to what it holds, and releases the longest prefix that
no later text can change: it holds back

- the last word (no whitespace yet after it): an e-mail address, a key, a token or a placeholder still arriving;
- when a digit appears in the last `DIGIT_REACH` characters, from the word before the first word with a digit there
  on: numbers written in groups (`4111 1111 1111 1111`, `AB 12 34 56 C`, `GB82 WEST 1234 ...`);
- an unfinished `-----BEGIN ... PRIVATE KEY-----` block, up to `MAX_PEM` characters;
- and any finding that reaches into what is held.

What it holds is bounded (`MAX_HOLD`, or `MAX_PEM` inside a key block): past that, the oldest text is released
anyway. After the first release, text goes out once `MIN_RELEASE` characters can (one scan per few words). The
findings in the released text are acted on (`act`); the last `CONTEXT` characters released are kept as left
context for the detectors (a key word before a value), never released twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from oneflow_ai.guardrails.actions import Hit

DIGIT_REACH = 48
MAX_HOLD = 1024
MAX_PEM = 8192
CONTEXT = 48
MIN_RELEASE = 24
"""After the first release (sent as soon as it can be, for the time to first byte), text is released when at least
this many characters can go: one scan per few words instead of one per token."""
_DIGIT = re.compile(r"\d")
_PEM_BEGIN = "-----BEGIN"
_PEM_END = "-----END"

Scan = Callable[[str], Sequence[Hit]]
Act = Callable[[str, Sequence[Hit]], str]


class StreamWindow:
    __slots__ = ("_act", "_context", "_held", "_scan")

    def __init__(self, scan: Scan, act: Act) -> None:
        self._scan = scan
        self._act = act
        self._held = ""
        self._context = ""

    @property
    def held(self) -> str:
        return self._held

    def push(self, text: str) -> str:
        buf = self._held + text
        cut = hold_from(buf)
        if cut == 0 or (cut < MIN_RELEASE and self._context and len(buf) < MAX_HOLD):
            self._held = buf  # nothing to release, or too little to be worth a scan (after the first release)
            return ""
        found = self._found(buf)
        for hit in found:
            if hit.finding.start < cut < hit.finding.end:
                cut = hit.finding.start
        return self._release(buf, cut, [h for h in found if h.finding.end <= cut])

    def flush(self) -> str:
        buf = self._held
        if not buf:
            return ""
        return self._release(buf, len(buf), self._found(buf))

    def _found(self, buf: str) -> list[Hit]:
        """The hits in `buf`, offsets into `buf`; found with the left context, ignoring hits that start in it."""
        ctx = self._context
        shift = len(ctx)
        out = []
        for hit in self._scan(ctx + buf):
            f = hit.finding
            if f.start >= shift:
                out.append(Hit(type(f)(f.type, f.start - shift, f.end - shift, f.score), hit.rule))
        return out

    def _release(self, buf: str, cut: int, found: list[Hit]) -> str:
        released = buf[:cut]
        self._held = buf[cut:]
        if not released:
            return ""
        self._context = (self._context + released)[-CONTEXT:]
        return self._act(released, found)


def hold_from(buf: str) -> int:
    """Where the text that could still change starts (`len(buf)`: nothing to hold)."""
    n = len(buf)
    cut = n
    if n and not buf[-1].isspace():
        cut = max(buf.rfind(" "), buf.rfind("\n"), buf.rfind("\t"), buf.rfind("\r")) + 1
    digit = _DIGIT.search(buf, max(0, n - DIGIT_REACH))
    if digit is not None:
        start = digit.start()
        while start > 0 and not buf[start - 1].isspace():
            start -= 1
        before = _word_before(buf, start)
        cut = min(cut, before if before is not None else start)
    if _PEM_BEGIN in buf:
        begin = buf.rfind(_PEM_BEGIN)
        if buf.find(_PEM_END, begin) == -1 and n - begin <= MAX_PEM:
            return min(cut, begin)
    return max(cut, n - MAX_HOLD)


def _word_before(buf: str, start: int) -> int | None:
    i = start - 1
    while i >= 0 and buf[i].isspace():
        i -= 1
    if i < 0 or start - i > 3:  # nothing before, or a line break / several spaces in between: not one value
        return None
    while i >= 0 and not buf[i].isspace():
        i -= 1
    return i + 1
