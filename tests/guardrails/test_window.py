"""The stream window, with a stand-in detector: whatever the split, the released text is the text acted on as a
whole; what it holds stays bounded; ordinary prose is released as it comes."""

from __future__ import annotations

import re
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from oneflow_ai.guardrails.actions import Hit, Placeholders, rewrite
from oneflow_ai.guardrails.policy import Rule
from oneflow_ai.guardrails.spans import Finding
from oneflow_ai.guardrails.window import MAX_HOLD, MIN_RELEASE, StreamWindow, hold_from

CARD = re.compile(r"\b\d{4}(?: \d{4}){3}\b")
EMAIL = re.compile(r"\b[\w.]+@[\w.]+\.[a-z]{2,}\b")
NINO = re.compile(r"\b[A-Z]{2} \d\d \d\d \d\d [A-D]\b")
RULE = Rule("redact", "test")


def scan(text: str) -> list[Hit]:
    found = []
    for kind, pattern in (("CREDIT_CARD", CARD), ("EMAIL_ADDRESS", EMAIL), ("UK_NINO", NINO)):
        found += [Hit(Finding(kind, m.start(), m.end(), 1.0), RULE) for m in pattern.finditer(text)]
    return sorted(found, key=lambda h: h.finding.start)


def streamed(pieces: Sequence[str]) -> tuple[str, list[str]]:
    placeholders = Placeholders()
    window = StreamWindow(scan, lambda text, found: rewrite(text, found, placeholders))
    out = [window.push(p) for p in pieces]
    out.append(window.flush())
    return "".join(out), out


def whole(text: str) -> str:
    return rewrite(text, scan(text), Placeholders())


ANSWER = "Card 4111 1111 1111 1111 and mail jane.doe@example.com, NINO AB 12 34 56 C. Then 4000 0000 0000 0002 end."


def test_a_card_split_in_three_is_redacted() -> None:
    text, _ = streamed(["Your card is 4111 11", "11 1111 ", "1111, thanks."])
    assert text == "Your card is <CREDIT_CARD_1>, thanks."


@given(st.lists(st.integers(min_value=0, max_value=len(ANSWER)), max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_split_gives_what_the_whole_text_gives(cuts: list[int]) -> None:
    at = sorted(set(cuts))
    pieces = [ANSWER[a:b] for a, b in zip([0, *at], [*at, len(ANSWER)], strict=True)]
    text, _ = streamed(pieces)
    assert text == whole(ANSWER)
    assert "4111" not in text and "example.com" not in text and "AB 12" not in text


def test_prose_is_released_as_it_comes() -> None:
    placeholders = Placeholders()
    window = StreamWindow(scan, lambda text, found: rewrite(text, found, placeholders))
    pieces = ["The answer ", "is simple: ", "rest well ", "tonight and ", "every ", "night after ", "that."]
    out = []
    for piece in pieces:
        out.append(window.push(piece))
        assert len(window.held) < MIN_RELEASE + len("tonight and ")  # a few words at most
    assert out[0] == "The answer "  # the first words go at once (time to first byte)
    assert out[3] == "is simple: rest well tonight and "  # then a few words at a time, one scan each
    assert "".join(out) + window.flush() == "".join(pieces)


def test_what_it_holds_stays_bounded() -> None:
    placeholders = Placeholders()
    window = StreamWindow(scan, lambda text, found: rewrite(text, found, placeholders))
    for _ in range(500):
        window.push("x" * 10)  # one endless word
        assert len(window.held) <= MAX_HOLD
    assert hold_from("a" * 5000) == 5000 - MAX_HOLD


def test_digits_hold_back_the_word_before() -> None:
    text = "NINO AB 12"
    assert text[hold_from(text) :] == "AB 12"
    assert hold_from("plain words here ") == len("plain words here ")
