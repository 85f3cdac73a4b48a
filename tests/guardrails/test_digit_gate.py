"""`detect` skips the detectors that need a digit on a text without one: the skip is sound (those detectors find
nothing in any digit-free text) and it happens (their `find` is not called)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from oneflow_ai.guardrails.detectors import all_detectors, detect
from oneflow_ai.guardrails.spans import Finding

GATED = [d for d in all_detectors() if getattr(d, "needs_digit", False)]
# Letters (both cases, and the ones the ID formats use), separators the number runs accept, punctuation
DIGIT_FREE = st.text(alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefxyz -.()+/:@_#\nÉéß"), max_size=60)


def test_the_gated_detectors_are_the_numeric_ones() -> None:
    assert {d.name for d in GATED} == {"numbers", "iban_code", "in_pan", "uk_nino", "us_passport"}


@settings(max_examples=300, deadline=None)
@given(DIGIT_FREE)
def test_a_gated_detector_finds_nothing_without_a_digit(text: str) -> None:
    for detector in GATED:
        assert detector.find(text) == [], detector.name


@dataclass(frozen=True, slots=True)
class Recording:
    name: str = "recording"
    types: frozenset[str] = field(default=frozenset({"US_SSN"}))
    needs_digit: ClassVar[bool] = True
    seen: list[str] = field(default_factory=list)

    def find(self, text: str) -> list[Finding]:
        self.seen.append(text)
        return [Finding("US_SSN", 0, 1, 1.0)]


def test_detect_runs_a_gated_detector_only_on_a_text_with_a_digit() -> None:
    recording = Recording()
    assert detect("no number here", detectors=(recording,)) == []
    assert recording.seen == []
    assert detect("room 7", detectors=(recording,)) == [Finding("US_SSN", 0, 1, 1.0)]
    assert recording.seen == ["room 7"]


def test_numbers_still_found_through_detect() -> None:
    found = detect("card 4111 1111 1111 1111 please", frozenset({"CREDIT_CARD"}))
    assert [f.type for f in found] == ["CREDIT_CARD"]
